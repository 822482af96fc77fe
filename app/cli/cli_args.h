#pragma once
// Minimal "--key value" / "--flag" parsing for the subcommands; unknown options are usage errors.
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace optiscope::cli {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  /// valued: options that take a value; flags: options that don't.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& valued,
       const std::set<std::string>& flags) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (flags.count(a) != 0) {
        flags_.insert(a);
      } else if (valued.count(a) != 0) {
        if (i + 1 >= argv.size()) throw UsageError("option " + a + " needs a value");
        values_[a] = argv[++i];
      } else {
        throw UsageError("unknown option '" + a + "'");
      }
    }
  }
  bool has(const std::string& flag) const { return flags_.count(flag) != 0 || values_.count(flag) != 0; }
  std::optional<std::string> get(const std::string& key) const {
    const auto it = values_.find(key);
    return it == values_.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  std::string require(const std::string& key) const {
    if (auto v = get(key)) return *v;
    throw UsageError("missing required option " + key);
  }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
};

int to_int(const std::string& option, const std::string& text);
double to_double(const std::string& option, const std::string& text);
std::vector<std::string> split_list(const std::string& text);

}  // namespace optiscope::cli
