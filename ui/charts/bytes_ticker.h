#pragma once
// Axis ticks in bytes with binary units (KiB, MiB, GiB) picked from the visible range, so a memory
// axis reads "12 GiB" instead of "1.2e+10". Shows magnitudes: a mirrored axis (device up, host
// down) labels both halves with positive sizes.
#include <qcustomplot.h>

namespace optiscope::ui {

class BytesTicker : public QCPAxisTicker {
 public:
  /// The unit chosen for a range, e.g. "GiB", and its size in bytes.
  static QPair<QString, double> unitFor(double maxAbs);

 protected:
  double getTickStep(const QCPRange& range) override;
  QString getTickLabel(double tick, const QLocale& locale, QChar formatChar, int precision) override;

 private:
  double unit_ = 1.0;
  QString unitName_ = QStringLiteral("B");
  int decimals_ = 0;
};

/// "1.50 GiB", "12.0 MiB": what hover read-outs and tables show.
QString formatBytes(double bytes);

}  // namespace optiscope::ui
