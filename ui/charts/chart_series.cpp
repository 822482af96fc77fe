#include "chart_series.h"

#include <algorithm>
#include <array>

#include "variant_palette.h"

namespace optiscope::ui {

std::vector<ChartSeries> seriesForRuns(const std::vector<RunInfo>& runs) {
  static constexpr std::array kStyles = {Qt::SolidLine, Qt::DashLine, Qt::DotLine, Qt::DashDotLine};
  std::vector<std::int64_t> comparisons;
  for (const auto& r : runs)
    if (std::find(comparisons.begin(), comparisons.end(), r.comparison_id) == comparisons.end())
      comparisons.push_back(r.comparison_id);

  std::vector<ChartSeries> out;
  out.reserve(runs.size());
  for (const auto& r : runs) {
    ChartSeries s;
    s.run_id = r.id;
    s.optim = QString::fromStdString(r.optim);
    s.color = variantColor(s.optim);
    const auto comparison = static_cast<std::size_t>(
        std::find(comparisons.begin(), comparisons.end(), r.comparison_id) - comparisons.begin());
    s.style = kStyles[comparison % kStyles.size()];
    const auto same =
        std::count_if(runs.begin(), runs.end(), [&](const RunInfo& o) { return o.optim == r.optim; });
    s.label = same > 1 ? QStringLiteral("%1 (comparison %2)").arg(s.optim).arg(r.comparison_id) : s.optim;
    out.push_back(s);
  }
  return out;
}

}  // namespace optiscope::ui
