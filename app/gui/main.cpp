// optiscope: the desktop program.
//
//   optiscope [STORE] [--new-default] [--screenshot FILE.png] [--quit-after-ms N]
//
// STORE is opened (read-only) when given. --new-default records the built-in default comparison
// straight away, into STORE or a new file in the application data folder: the README's first
// command on a desktop. --screenshot and --quit-after-ms serve tests and the documentation: the
// window is grabbed once the comparison has finished (or after N ms, whichever comes first).
#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QTimer>
#include <cstdio>

#include "main_window.h"
#include "spec/run_spec.h"
#include "store_files.h"

namespace {

struct Options {
  QString store;
  bool newDefault = false;
  QString screenshot;
  int quitAfterMs = 0;
};

// Parses the command line; prints help, version or the error and exits the process itself.
Options parseCommandLine(const QApplication& app) {
  QCommandLineParser parser;
  parser.setApplicationDescription(
      QStringLiteral("Profile and compare the memory, speed and accuracy of LLM optimizers."));
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument(QStringLiteral("STORE"), QStringLiteral("Optiscope store file (.db) to open."),
                               QStringLiteral("[STORE]"));
  const QCommandLineOption newDefault(
      QStringLiteral("new-default"),
      QStringLiteral("Record the default comparison now, into STORE or a new file in the data folder."));
  const QCommandLineOption screenshot(
      QStringLiteral("screenshot"),
      QStringLiteral("Save a picture of the window to FILE once the comparison has finished (or when "
                     "--quit-after-ms runs out), then quit."),
      QStringLiteral("FILE"));
  const QCommandLineOption quitAfter(
      QStringLiteral("quit-after-ms"),
      QStringLiteral("Quit after N milliseconds (taking the screenshot first)."), QStringLiteral("N"));
  parser.addOptions({newDefault, screenshot, quitAfter});
  parser.process(app);

  Options o;
  const QStringList positional = parser.positionalArguments();
  if (positional.size() > 1) {
    std::fprintf(stderr, "optiscope: give at most one store file\n");
    std::exit(2);
  }
  if (!positional.isEmpty()) o.store = positional.front();
  o.newDefault = parser.isSet(newDefault);
  o.screenshot = parser.value(screenshot);
  if (parser.isSet(quitAfter)) {
    bool ok = false;
    o.quitAfterMs = parser.value(quitAfter).toInt(&ok);
    if (!ok || o.quitAfterMs < 0) {
      std::fprintf(stderr, "optiscope: --quit-after-ms needs a number of milliseconds\n");
      std::exit(2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char* argv[]) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("Optiscope"));
  QApplication::setApplicationName(QStringLiteral("optiscope"));
  QApplication::setApplicationDisplayName(QStringLiteral("Optiscope"));
  QApplication::setApplicationVersion(QStringLiteral(OPTISCOPE_VERSION_TEXT));
  QApplication::setDesktopFileName(QStringLiteral("optiscope"));
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/optiscope/optiscope.svg")));
  const Options options = parseCommandLine(app);
  const bool scripted = !options.screenshot.isEmpty() || options.quitAfterMs > 0;

  optiscope::ui::MainWindow window;
  // Scripted runs make pictures for tests and docs: the same size every time, whatever the user
  // last left the window at.
  if (scripted) window.resize(1440, 880);
  window.show();

  // The quit timers go first: a store that fails to open shows a modal message box, and a
  // scripted run must still end on time.
  bool done = false;
  int exitCode = 0;
  const auto finish = [&] {
    if (done) return;
    done = true;
    if (!options.screenshot.isEmpty() && !window.grab().save(options.screenshot)) {
      std::fprintf(stderr, "optiscope: cannot write the screenshot %s\n", qPrintable(options.screenshot));
      exitCode = 1;
    }
    window.cancelComparisonsAndWait();
    QApplication::exit(exitCode);
  };
  if (scripted) {
    if (options.quitAfterMs > 0) QTimer::singleShot(options.quitAfterMs, &window, finish);
    if (options.newDefault) {
      // A moment for the final outcomes to be drawn before the picture is taken.
      QObject::connect(&window, &optiscope::ui::MainWindow::comparisonsFinished, &window,
                       [&] { QTimer::singleShot(250, &window, finish); });
    } else if (options.quitAfterMs == 0) {
      QTimer::singleShot(500, &window, finish);
    }
  }

  if (options.newDefault) {
    const QString path = options.store.isEmpty() ? optiscope::ui::newStorePath() : options.store;
    window.startComparison(optiscope::default_comparison(), path);
  } else if (!options.store.isEmpty()) {
    window.openStore(options.store);
  }
  // finish() may already have run inside the error box's event loop; exec() would then wait forever.
  if (done) return exitCode;
  const int code = QApplication::exec();
  return done ? exitCode : code;
}
