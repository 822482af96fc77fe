#include "chart_series.h"

#include <algorithm>
#include <array>

#include "variant_palette.h"

namespace optiscope::ui {

// A run over several ranks says how many and how its state is sharded, since "adamw_8bit" alone
// would read as the one-process run.
QString variantName(const RunInfo& r) {
  QString name = QString::fromStdString(r.optim);
  if (r.world_size > 1) {
    name += QStringLiteral(" × %1 ranks").arg(r.world_size);
    if (r.zero_stage > 0) name += QStringLiteral(", ZeRO %1").arg(r.zero_stage);
  }
  return name;
}

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
    const QString name = variantName(r);
    const auto same =
        std::count_if(runs.begin(), runs.end(), [&](const RunInfo& o) { return variantName(o) == name; });
    s.label = same > 1 ? QStringLiteral("%1 (comparison %2)").arg(name).arg(r.comparison_id) : name;
    out.push_back(s);
  }
  return out;
}

}  // namespace optiscope::ui
