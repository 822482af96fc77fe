#include "probes/device_accounting.h"

#include <algorithm>

namespace optiscope::probes {

DriverUsedSplit split_driver_used(const DriverUsedInputs& in) {
  if (in.driver_used <= 0) return {};
  const std::int64_t unexplained =
      std::max<std::int64_t>(0, in.driver_used - in.foreign - in.context - in.reserved - in.paged_resident);
  DriverUsedSplit out;
  // The driver can only be caching what was once resident and has been evicted since.
  out.driver_cache = std::min(unexplained, std::max<std::int64_t>(0, in.evicted_held_max));
  out.other = unexplained - out.driver_cache;
  return out;
}

}  // namespace optiscope::probes
