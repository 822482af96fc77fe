#include "csv_export.h"

#include <iomanip>

namespace optiscope::cli {
namespace {

// Quotes a field when it holds a separator, a quote or a line break (RFC 4180).
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (const char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + '"';
}

}  // namespace

void write_steps_csv(const Store& store, const std::vector<RunInfo>& runs, std::ostream& out) {
  out << "run,comparison,optim,outcome,step,loss,lr,step_ms,tokens,mem_bytes\n";
  out << std::setprecision(9);
  for (const auto& r : runs) {
    const std::string prefix = std::to_string(r.id) + "," + std::to_string(r.comparison_id) + "," +
                               csv_field(r.optim) + "," + to_string(r.outcome) + ",";
    for (const auto& s : store.steps(r.id)) {
      out << prefix << s.step << ',' << s.loss << ',' << s.lr << ',' << s.step_ms << ',' << s.tokens << ','
          << s.mem_bytes << '\n';
    }
  }
}

}  // namespace optiscope::cli
