#include "charts/bytes_ticker.h"

#include <cmath>

#include "estimate/memory_estimate.h"

namespace optiscope::ui {

QPair<QString, double> BytesTicker::unitFor(double maxAbs) {
  static const char* names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double unit = 1.0;
  int i = 0;
  while (maxAbs >= 1024.0 * unit && i < 4) {
    unit *= 1024.0;
    ++i;
  }
  return {QString::fromLatin1(names[i]), unit};
}

double BytesTicker::getTickStep(const QCPRange& range) {
  const auto [name, unit] = unitFor(std::max(std::abs(range.lower), std::abs(range.upper)));
  unit_ = unit;
  unitName_ = name;
  // Nice steps in the chosen unit (1, 2, 2.5, 5 x 10^n), like the default ticker does in plain numbers.
  const double step = cleanMantissa(range.size() / unit / (mTickCount + 1e-10));
  decimals_ = step >= 1.0 ? 0 : static_cast<int>(std::ceil(-std::log10(step)));
  return step * unit;
}

QString BytesTicker::getTickLabel(double tick, const QLocale& locale, QChar, int) {
  const double v = std::abs(tick) / unit_;
  if (v < 1e-9) return QStringLiteral("0");
  return QStringLiteral("%1 %2").arg(locale.toString(v, 'f', decimals_), unitName_);
}

QString formatBytes(double bytes) {
  return QString::fromStdString(estimate::format_bytes(bytes));
}

}  // namespace optiscope::ui
