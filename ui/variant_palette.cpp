#include "variant_palette.h"

#include <array>
#include <cstdint>
#include <utility>

namespace optiscope::ui {
namespace {

// Okabe & Ito (2008). Yellow (#F0E442) is left out: it vanishes on white paper.
constexpr std::array<QRgb, 7> kOkabeIto = {
    0x0072B2,  // blue
    0xD55E00,  // vermillion
    0x009E73,  // bluish green
    0xCC79A7,  // reddish purple
    0xE69F00,  // orange
    0x56B4E9,  // sky blue
    0x000000,  // black
};

// Explicit, so that adding a variant to known_optimizers() never repaints the existing ones.
// The 32-bit/8-bit pairs that people compare most get the most distinct colours.
constexpr std::array<std::pair<const char*, int>, 8> kAssigned = {{
    {"adamw_torch", 0},
    {"adamw_8bit", 1},
    {"adamw_32bit", 2},
    {"paged_adamw_8bit", 3},
    {"paged_adamw_32bit", 4},
    {"adamw_torch_fused", 5},
    {"offload_adamw_32bit", 6},
    {"offload_adamw_8bit", 3},
}};

// FNV-1a: unlike qHash it is not seeded per process, so an unknown name keeps its colour.
std::uint32_t stableHash(const QString& text) {
  std::uint32_t h = 2166136261u;
  for (const QChar c : text) {
    h ^= c.unicode();
    h *= 16777619u;
  }
  return h;
}

}  // namespace

QColor variantColor(const QString& optim) {
  for (const auto& [name, index] : kAssigned) {
    if (optim == QLatin1String(name)) return QColor::fromRgb(kOkabeIto[static_cast<std::size_t>(index)]);
  }
  return QColor::fromRgb(kOkabeIto[stableHash(optim) % kOkabeIto.size()]);
}

}  // namespace optiscope::ui
