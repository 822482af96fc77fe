// optiscope: the desktop program.
//
//   optiscope [STORE] [--new-default] [--screenshot FILE.png] [--quit-after-ms N] [--tab N] [--dark]
//   optiscope STORE --export-charts DIR
//
// --export-charts renders every chart (PNG, SVG, PDF) and the one-page report (PNG, PDF) of the
// newest comparison into DIR without showing a window, and exits 0, or 1 with a message.
// STORE is opened (read-only) when given. --new-default records the built-in default comparison
// straight away, into STORE or a new file in the application data folder: the README's first
// command on a desktop. --screenshot and --quit-after-ms serve tests and the documentation: the
// window is grabbed once the comparison has finished (or after N ms, whichever comes first).
#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QTabWidget>
#include <QTimer>
#include <cstdio>

#include "dark_palette.h"
#include "main_window.h"
#include "spec/run_spec.h"
#include "store_files.h"

namespace {

struct Options {
  QString store;
  bool newDefault = false;
  QString screenshot;
  int quitAfterMs = 0;
  QString exportCharts;
  int tab = -1;
  bool dark = false;
};

// Headless export must not need a display: pick the offscreen platform before QApplication
// exists, unless the caller chose a platform.
void useOffscreenForExports(int argc, char* argv[]) {
  for (int i = 1; i < argc; ++i)
    if (qstrcmp(argv[i], "--export-charts") == 0 && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
      qputenv("QT_QPA_PLATFORM", "offscreen");
}

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
  const QCommandLineOption exportCharts(
      QStringLiteral("export-charts"),
      QStringLiteral(
          "Render every chart and the comparison report of STORE into DIR, without a window, and exit."),
      QStringLiteral("DIR"));
  const QCommandLineOption tab(QStringLiteral("tab"), QStringLiteral("Show chart tab N (0-based) first."),
                               QStringLiteral("N"));
  const QCommandLineOption dark(
      QStringLiteral("dark"),
      QStringLiteral("Use a dark colour scheme (Fusion style, dark palette) whatever the desktop's theme."));
  parser.addOptions({newDefault, screenshot, quitAfter, exportCharts, tab, dark});
  parser.process(app);

  Options o;
  const QStringList positional = parser.positionalArguments();
  if (positional.size() > 1) {
    std::fprintf(stderr, "optiscope: give at most one store file\n");
    std::exit(2);
  }
  if (!positional.isEmpty()) o.store = positional.front();
  o.newDefault = parser.isSet(newDefault);
  o.dark = parser.isSet(dark);
  o.screenshot = parser.value(screenshot);
  o.exportCharts = parser.value(exportCharts);
  if (parser.isSet(tab)) o.tab = parser.value(tab).toInt();
  if (!o.exportCharts.isEmpty() && o.store.isEmpty()) {
    std::fprintf(stderr, "optiscope: --export-charts needs a store file\n");
    std::exit(2);
  }
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
  useOffscreenForExports(argc, argv);
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("Optiscope"));
  QApplication::setApplicationName(QStringLiteral("optiscope"));
  QApplication::setApplicationDisplayName(QStringLiteral("Optiscope"));
  QApplication::setApplicationVersion(QStringLiteral(OPTISCOPE_VERSION_TEXT));
  QApplication::setDesktopFileName(QStringLiteral("optiscope"));
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/optiscope/optiscope.svg")));
  const Options options = parseCommandLine(app);
  if (options.dark) optiscope::ui::useDarkScheme(app);
  const bool scripted = !options.screenshot.isEmpty() || options.quitAfterMs > 0;

  optiscope::ui::MainWindow window;
  if (!options.exportCharts.isEmpty()) {
    window.setInteractive(false);
    window.resize(1440, 880);
    if (!window.openStore(options.store)) return 1;
    const QStringList problems = window.exportAllCharts(options.exportCharts);
    for (const QString& p : problems) std::fprintf(stderr, "optiscope: %s\n", qPrintable(p));
    if (problems.isEmpty())
      std::printf("optiscope: charts and report written to %s\n", qPrintable(options.exportCharts));
    return problems.isEmpty() ? 0 : 1;
  }
  if (options.tab >= 0) window.tabs().setCurrentIndex(options.tab);
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
