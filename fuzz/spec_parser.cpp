// Fuzz target: run and comparison specs from JSON (a user's spec file, or one found in a store).
// Any input either parses into a spec that validates, or throws SpecError: another exception, a
// crash or a sanitizer report is a finding. A spec that parses must survive a round trip.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "spec/run_spec.h"

using optiscope::fuzz::finding;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto spec = optiscope::run_spec_from_json(text);
    if (!optiscope::validate(spec).empty()) finding("a parsed run spec does not validate");
    const auto json = optiscope::to_json(spec);
    if (optiscope::to_json(optiscope::run_spec_from_json(json)) != json)
      finding("run spec round trip differs");
  } catch (const optiscope::SpecError&) {
  }
  try {
    const auto spec = optiscope::comparison_spec_from_json(text);
    if (spec.optims.empty()) finding("a comparison without optimizers was accepted");
    const auto json = optiscope::to_json(spec);
    if (optiscope::to_json(optiscope::comparison_spec_from_json(json)) != json)
      finding("comparison spec round trip differs");
  } catch (const optiscope::SpecError&) {
  }
  return 0;
}
