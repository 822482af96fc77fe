#pragma once
// A built-in instruction dataset in the article's SFT format ("### Instruction ... ### Response ..."),
// made of small tasks with exact answers (arithmetic, reversal, sorting, counting), so even a tiny
// model learns it and its loss curve falls; generated from the seed, so every variant sees the
// same examples in the same order.
#include <cstdint>
#include <string>
#include <vector>

namespace optiscope {

std::vector<std::string> synthetic_instructions(std::size_t count, std::uint64_t seed);

}  // namespace optiscope
