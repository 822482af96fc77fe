#pragma once
// Raw CUPTI activity buffer -> CapturedEvents. Needs libcupti (its record walker knows the record
// sizes of the library actually loaded) but no GPU: the walker is pure buffer arithmetic, which the
// decode tests rely on.
#include <cstddef>
#include <cstdint>

#include "probes/cupti_records.h"

namespace optiscope::probes {

struct DecodeResult {
  CapturedEvents events;
  DecodeStats stats;
};

/// Decodes the first `valid_size` bytes of `buffer`. Unified-memory counter, kernel (serial and
/// concurrent) and memcpy records become events; other documented kinds are skipped and counted; a
/// kind the library rejects stops the walk (its size is unknown) and the rest is counted as
/// undecoded; a record cut off by `valid_size` marks the buffer truncated. Never throws on bad
/// input (only std::bad_alloc can escape).
DecodeResult decode_activity_buffer(const std::uint8_t* buffer, std::size_t valid_size);

/// Same, appending to `out` and adding to `stats`, so a capture can reuse its vectors.
void decode_activity_buffer(const std::uint8_t* buffer, std::size_t valid_size, CapturedEvents& out,
                            DecodeStats& stats);

}  // namespace optiscope::probes
