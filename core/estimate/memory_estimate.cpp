#include "estimate/memory_estimate.h"

#include <cmath>
#include <cstdio>

namespace optiscope::estimate {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// The CUDA context, cuBLAS workspaces and LibTorch's kernels: what a device loses before the
// first tensor. About 0.5 GiB on an H100 with CUDA 13 (measured via the driver's used memory).
constexpr std::int64_t kContextBytes = 512LL * 1024 * 1024;
// bitsandbytes: one fp32 absmax per 256-element block, for each of the two moments.
constexpr double kBlockwiseOverhead = 2.0 * 4.0 / 256.0;

std::string fmt(const char* pattern, double a, const std::string& b = {}) {
  char buf[160];
  std::snprintf(buf, sizeof buf, pattern, a, b.c_str());
  return buf;
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

double weight_bytes_per_param(const std::string& precision) {
  return precision == "bf16" ? 2.0 : 4.0;
}

double optimizer_bytes_per_param(const std::string& optim, const std::string& precision) {
  if (optim.find("8bit") != std::string::npos) return 2.0 + kBlockwiseOverhead;
  if (optim.find("32bit") != std::string::npos) return 8.0;
  // adamw_torch and adamw_torch_fused keep their moments in the parameter dtype.
  return 2.0 * weight_bytes_per_param(precision);
}

Placement optimizer_placement(const std::string& optim) {
  if (starts_with(optim, "paged_")) return Placement::paged;
  if (starts_with(optim, "offload_")) return Placement::host;
  return Placement::device;
}

Estimate estimate(const Workload& w) {
  Estimate e;
  const double p = static_cast<double>(w.parameters > 0 ? w.parameters : w.model.parameter_count());
  const std::string pc = format_count(p) + " params";
  const double wb = weight_bytes_per_param(w.precision);
  const double ob = optimizer_bytes_per_param(w.optim, w.precision);

  e.components.push_back(
      {"weights", pc + fmt(" x %.0f B (%s)", wb, w.precision), std::llround(p * wb), Placement::device});
  const double embedding = static_cast<double>(w.model.vocab_size) * static_cast<double>(w.model.hidden_size);
  if (w.optimizer_in_bwd)
    e.components.push_back({"gradients", fmt("largest one only (optimizer in backward): V*h x %.0f B", wb),
                            std::llround(embedding * wb), Placement::device});
  else if (w.zero_stage >= 2 && w.ranks > 1)
    e.components.push_back({"gradients",
                            pc + fmt(" x %.0f B: full until the reduce-scatter after backward, then 1/", wb) +
                                std::to_string(w.ranks),
                            std::llround(p * wb), Placement::device});
  else
    e.components.push_back({"gradients", pc + fmt(" x %.0f B", wb), std::llround(p * wb), Placement::device});
  const std::string stateWhy = w.optim.find("8bit") != std::string::npos    ? "2 moments x 1 B + absmax/256"
                               : w.optim.find("32bit") != std::string::npos ? "2 moments x 4 B (fp32)"
                                                                            : "2 moments in the param dtype";
  if (w.zero_stage >= 1 && w.ranks > 1) {
    // Each rank's piece of every tensor is rounded up to whole 256-value blocks; spread over the
    // parameters that costs at most 256 values per tensor, under 0.01 % for these models: the
    // per-rank state is taken as the plain 1/N.
    const double n = static_cast<double>(w.ranks);
    e.components.push_back({"optimizer state",
                            pc + fmt(" x %.3g B = %s", ob, stateWhy) + fmt(" / %.0f ranks", n) +
                                " (ZeRO stage " + std::to_string(w.zero_stage) + ")",
                            std::llround(p * ob / n), optimizer_placement(w.optim)});
  } else {
    e.components.push_back({"optimizer state", pc + fmt(" x %.3g B = %s", ob, stateWhy), std::llround(p * ob),
                            optimizer_placement(w.optim)});
  }

  // Activations are kept in bf16 under autocast and bf16, fp32 otherwise.
  const double ab = w.precision == "fp32" ? 4.0 : 2.0;
  const double s = static_cast<double>(w.seq_len);
  const double b = static_cast<double>(w.batch);
  const double h = static_cast<double>(w.model.hidden_size);
  const double l = static_cast<double>(w.model.num_hidden_layers);
  const double a = static_cast<double>(w.model.num_attention_heads);
  const double perLayer = s * b * h * ((16 * ab + 2) + (2 * ab + 1) * a * s / h);
  char formula[200];
  std::snprintf(formula, sizeof formula, "s*b*h*L*(%.0f + %.0f*a*s/h), s=%.0f b=%.0f h=%.0f L=%.0f a=%.0f",
                16 * ab + 2, 2 * ab + 1, s, b, h, l, a);
  if (w.gradient_checkpointing) {
    std::snprintf(
        formula, sizeof formula,
        "checkpointed: s*b*h*%.0f B per layer input x L + one layer recomputed, s=%.0f b=%.0f h=%.0f L=%.0f",
        ab, s, b, h, l);
    e.components.push_back(
        {"activations", formula, std::llround(s * b * h * ab * l + perLayer), Placement::device});
  } else {
    e.components.push_back({"activations", formula, std::llround(perLayer * l), Placement::device});
  }
  const double v = static_cast<double>(w.model.vocab_size);
  if (w.loss_chunks > 0)
    e.components.push_back(
        {"logits", fmt("b*s*V*4 B / %.0f chunks, V=", static_cast<double>(w.loss_chunks)) + format_count(v),
         std::llround(b * s * v * 4.0 / static_cast<double>(w.loss_chunks)), Placement::device});
  else
    e.components.push_back(
        {"logits", fmt("b*s*V*4 B, V=%.0f", v), std::llround(b * s * v * 4.0), Placement::device});
  e.components.push_back(
      {"CUDA context", "about 0.5 GiB (driver, cuBLAS, kernels)", kContextBytes, Placement::device});

  for (const auto& c : e.components) {
    switch (c.where) {
      case Placement::device:
        e.device_bytes += c.bytes;
        break;
      case Placement::paged:
        e.paged_bytes += c.bytes;
        break;
      case Placement::host:
        e.host_bytes += c.bytes;
        break;
    }
  }
  return e;
}

const std::vector<Card>& cards() {
  // Nominal sizes in GiB: an "80 GB" H100 reports 79.6 GiB, close enough to count as 80.
  static const std::vector<Card> all = {
      {"24 GB (RTX 4090, L4)", static_cast<std::int64_t>(24 * kGiB)},
      {"40 GB (A100 40GB)", static_cast<std::int64_t>(40 * kGiB)},
      {"48 GB (L40S, A6000)", static_cast<std::int64_t>(48 * kGiB)},
      {"80 GB (A100/H100 80GB)", static_cast<std::int64_t>(80 * kGiB)},
      {"141 GB (H200)", static_cast<std::int64_t>(141 * kGiB)},
  };
  return all;
}

Fit fit_on(const Estimate& e, std::int64_t device_bytes) {
  if (e.device_bytes + e.paged_bytes <= device_bytes) return Fit::fits;
  if (e.paged_bytes > 0 && e.device_bytes <= device_bytes) return Fit::fits_with_paging;
  return Fit::does_not_fit;
}

std::string to_string(Fit f) {
  switch (f) {
    case Fit::fits:
      return "fits";
    case Fit::fits_with_paging:
      return "fits, paging state to the host";
    case Fit::does_not_fit:
      return "does not fit";
  }
  return "?";
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = bytes;
  while (std::fabs(v) >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%.0f B", v);
  else
    std::snprintf(buf, sizeof buf,
                  std::fabs(v) >= 100  ? "%.0f %s"
                  : std::fabs(v) >= 10 ? "%.1f %s"
                                       : "%.2f %s",
                  v, units[u]);
  return buf;
}

std::string format_count(double n) {
  const char* units[] = {"", " k", " M", " G", " T"};
  int u = 0;
  while (std::fabs(n) >= 1000.0 && u < 4) {
    n /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, n >= 100 ? "%.0f%s" : n >= 10 ? "%.1f%s" : "%.2f%s", n, units[u]);
  return buf;
}

}  // namespace optiscope::estimate
