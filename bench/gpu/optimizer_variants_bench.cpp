// Optimizer step time of every variant through core/optim's own classes, for N parameters split
// into equal tensors, with fp32 and with bf16 parameters and gradients, against what the machine
// can do, all measured in this one run:
//   - device-to-device copy bandwidth (read + written): the floor of the device-resident variants
//     is bytes per parameter (optimizers.md, spec B) x N over it;
//   - pinned host copy bandwidth, each direction alone and both at once: the floor of the offload
//     variants and of paging is the state's bytes over it;
//   - torch's fused AdamW (at::_fused_adamw_, state in the parameter dtype) on the same tensors;
//   - paged variants with their state resident, then under a budget that leaves room for half of
//     it (every step pages all of it in and out: the page manager's prefetch and eviction), and
//     with paging left to the driver: state evicted to the host, then faulted in by the kernels.
// Median of --steps CUDA-event-timed steps after --warmup. JSON (bench/results/optimizer_step.json
// shape) to --out or stdout, progress to stderr. Managed memory never exceeds cudaMemGetInfo's
// free figure: a run that would is skipped with a reason.
//
//   optiscope_optimizer_variants_bench [--n 1073741824] [--tensors 16] [--steps 10] [--warmup 3]
//       [--paging-steps 3] [--dtypes f32,bf16] [--commit SHA] [--command TEXT] [--out FILE]
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench_support.h"
#include "optim/optimizer.h"
#include "optim/page_manager.h"
#include "optim_kernels.h"

namespace {

using namespace optiscope;
using bench::Json;

struct Options {
  std::int64_t n = std::int64_t{1} << 30;
  std::int64_t tensors = 16;
  int steps = 10;
  int warmup = 3;
  int paging_steps = 3;
  std::vector<std::string> dtypes = {"f32", "bf16"};
  std::string commit = "unknown";
  std::string command;
  std::string out;
};

Options parse(int argc, char** argv) {
  Options o;
  bench::Args args(argc, argv);
  while (args.more()) {
    const std::string a = args.flag();
    if (a == "--n")
      o.n = args.integer();
    else if (a == "--tensors")
      o.tensors = args.integer();
    else if (a == "--steps")
      o.steps = static_cast<int>(args.integer());
    else if (a == "--warmup")
      o.warmup = static_cast<int>(args.integer());
    else if (a == "--paging-steps")
      o.paging_steps = static_cast<int>(args.integer());
    else if (a == "--dtypes")
      o.dtypes = bench::split(args.text(), ',');
    else if (a == "--commit")
      o.commit = args.text();
    else if (a == "--command")
      o.command = args.text();
    else if (a == "--out")
      o.out = args.text();
    else
      throw std::invalid_argument("unknown argument " + a);
  }
  return o;
}

cudaStream_t stream() {
  return at::cuda::getCurrentCUDAStream().stream();
}

// Bytes each variant must move per parameter in one device-resident step (optimizers.md spec B).
double hbm_bytes_per_param(const std::string& variant, double s) {
  if (variant == "adamw_torch_fused") return 7 * s;  // p, g, m, v read; p, m, v written
  if (variant.find("8bit") != std::string::npos) return 3 * s + 4 + 16.0 / 256;
  return 3 * s + 16;
}

// Bytes of offloaded or paged state per parameter, each way.
double state_bytes_per_param(const std::string& variant) {
  return variant.find("8bit") != std::string::npos ? 2 : 8;
}

struct Bandwidths {
  double d2d = 0;            // bytes read + written per second
  double h2d = 0;            // pinned, alone
  double d2h = 0;            // pinned, alone
  double bidir_per_dir = 0;  // pinned, both directions at once: each direction's rate
};

Bandwidths measure_bandwidths(const Options& o) {
  Bandwidths b;
  const std::size_t bytes = std::size_t{1} << 30;
  bench::DeviceBuffer a(bytes), c(bytes);
  CHECK_CUDA(cudaMemset(a.get(), 1, bytes));
  b.d2d =
      2.0 * bytes /
      bench::median_ms(
          o.warmup, o.steps, stream(),
          [&] { CHECK_CUDA(cudaMemcpyAsync(c.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, stream())); }) *
      1e3;
  bench::PinnedBuffer host_in(bytes), host_out(bytes);
  b.h2d = bytes /
          bench::median_ms(
              1, 5, stream(),
              [&] {
                CHECK_CUDA(cudaMemcpyAsync(a.get(), host_in.get(), bytes, cudaMemcpyHostToDevice, stream()));
              }) *
          1e3;
  b.d2h = bytes /
          bench::median_ms(
              1, 5, stream(),
              [&] {
                CHECK_CUDA(cudaMemcpyAsync(host_out.get(), c.get(), bytes, cudaMemcpyDeviceToHost, stream()));
              }) *
          1e3;
  bench::SideStream side;
  b.bidir_per_dir =
      bytes /
      bench::median_ms(
          1, 5, stream(),
          [&] {
            side.fork(stream());
            CHECK_CUDA(cudaMemcpyAsync(a.get(), host_in.get(), bytes, cudaMemcpyHostToDevice, stream()));
            CHECK_CUDA(cudaMemcpyAsync(host_out.get(), c.get(), bytes, cudaMemcpyDeviceToHost, side.get()));
            side.join(stream());
          }) *
      1e3;
  return b;
}

struct Params {
  std::vector<torch::Tensor> p;
  std::int64_t n = 0;
};

Params make_params(const Options& o, torch::ScalarType dtype) {
  Params ps;
  const std::int64_t each = o.n / o.tensors;
  const auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(dtype);
  for (std::int64_t i = 0; i < o.tensors; ++i) {
    auto p = (torch::randn({each}, opts.dtype(torch::kFloat32)) * 0.1).to(dtype).set_requires_grad(true);
    p.mutable_grad() = (torch::randn({each}, opts.dtype(torch::kFloat32)) * 0.01).to(dtype);
    ps.p.push_back(p);
    ps.n += each;
  }
  return ps;
}

void release_cache() {
  CHECK_CUDA(cudaDeviceSynchronize());
  c10::cuda::CUDACachingAllocator::emptyCache();
}

std::size_t free_bytes() {
  std::size_t f = 0, t = 0;
  CHECK_CUDA(cudaMemGetInfo(&f, &t));
  return f;
}

Json timed_variant(const Options& o, const std::string& variant, const std::string& dtype, Params& ps,
                   const Bandwidths& bw) {
  Json r;
  r.set("variant", variant).set("dtype", dtype);
  const double s = dtype == "f32" ? 4 : 2;
  const double hbm_ms = hbm_bytes_per_param(variant, s) * ps.n / bw.d2d * 1e3;
  optim::OptimizerOptions oo;
  oo.weight_decay = 0.01;
  std::unique_ptr<optim::Optimizer> opt;
  try {
    opt = optim::make_optimizer(variant, ps.p, oo);
  } catch (const std::exception& e) {
    return r.set("skipped", true).set("reason", e.what());
  }
  std::fprintf(stderr, "%s %s\n", variant.c_str(), dtype.c_str());
  const double ms = bench::median_ms(o.warmup, o.steps, stream(), [&] { opt->step(); });
  double floor_ms = hbm_ms;
  std::string basis = "device memory";
  if (variant.rfind("offload_", 0) == 0) {
    const double bus_ms = state_bytes_per_param(variant) * ps.n / bw.bidir_per_dir * 1e3;
    if (bus_ms > floor_ms) {
      floor_ms = bus_ms;
      basis = "pinned copies, both directions at once";
    }
    const double moved = 2 * state_bytes_per_param(variant) * ps.n;
    r.set("migration_gbps", moved / (ms * 1e-3) / 1e9)
        .set("bus_fraction", floor_ms / ms)
        .set("pinned_host_bytes", opt->state_bytes().host);
  }
  r.set("ms", ms).set("floor_ms", floor_ms).set("ratio", ms / floor_ms).set("floor_basis", basis);
  r.set("bytes_per_param", hbm_bytes_per_param(variant, s));
  opt.reset();
  release_cache();
  return r;
}

// Paged state under a budget that holds half of it: the page manager evicts least recently used
// tensors, so with the tensors updated in a cycle every step moves all of the state both ways.
Json forced_paging(const Options& o, const std::string& variant, const std::string& dtype, Params& ps,
                   const Bandwidths& bw) {
  Json r;
  r.set("variant", variant)
      .set("dtype", dtype)
      .set("mode", "budget forces paging (page manager prefetch/evict)");
  const double state = state_bytes_per_param(variant) * ps.n;
  if (state > static_cast<double>(free_bytes()))
    return r.set("skipped", true).set("reason", "state exceeds free memory");
  std::fprintf(stderr, "%s %s under a budget\n", variant.c_str(), dtype.c_str());
  optim::OptimizerOptions oo;
  oo.weight_decay = 0.01;
  auto opt = optim::make_optimizer(variant, ps.p, oo);
  auto& pm = optim::PageManager::for_device(0);
  opt->step();  // grads and every lazily made buffer exist before the budget is measured against them
  CHECK_CUDA(cudaDeviceSynchronize());
  const auto reserved =
      c10::cuda::CUDACachingAllocator::getDeviceStats(0)
          .reserved_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
          .current;
  pm.set_budget(reserved + static_cast<std::int64_t>(state / 2));
  const auto before = pm.counters();
  const double ms = bench::median_ms(1, o.paging_steps, stream(), [&] { opt->step(); });
  const auto after = pm.counters();
  pm.set_budget(0);
  const int steps = 1 + o.paging_steps;
  const double in = static_cast<double>(after.prefetched_to_device - before.prefetched_to_device) / steps;
  const double out = static_cast<double>(after.evicted_to_host - before.evicted_to_host) / steps;
  const double floor_ms = std::max(in, out) / bw.bidir_per_dir * 1e3;
  r.set("ms", ms)
      .set("floor_ms", floor_ms)
      .set("ratio", ms / floor_ms)
      .set("floor_basis", "pinned copies, both directions at once");
  r.set("h2d_bytes_per_step", in).set("d2h_bytes_per_step", out);
  r.set("migration_gbps", (in + out) / (ms * 1e-3) / 1e9);
  opt.reset();
  release_cache();
  return r;
}

// Paging left to the driver: the state is evicted to the host (timed: the driver's eviction rate),
// then the kernels touch it and GPU page faults bring it in (timed: the fault-driven rate).
Json fault_paging(const Options& o, const std::string& variant, const std::string& dtype, Params& ps) {
  Json r;
  r.set("variant", variant).set("dtype", dtype).set("mode", "driver page faults (no prefetch)");
  const bool eight = variant.find("8bit") != std::string::npos;
  const std::size_t each = static_cast<std::size_t>(ps.p.front().numel());
  const std::size_t state_each = 2 * each * (eight ? 1 : 4);
  const std::size_t total = state_each * ps.p.size();
  if (total + (std::size_t{1} << 30) > free_bytes())
    return r.set("skipped", true).set("reason", "state exceeds free memory");
  std::fprintf(stderr, "%s %s with page faults\n", variant.c_str(), dtype.c_str());
  std::vector<bench::ManagedBuffer> state;
  std::vector<torch::Tensor> absmax;
  state.reserve(ps.p.size());
  for (std::size_t i = 0; i < ps.p.size(); ++i) {
    state.emplace_back(state_each);
    kernels::fill_zero(state.back().get(), state_each, stream());
    if (eight)
      absmax.push_back(torch::zeros({2 * optim::quant_blocks(static_cast<std::int64_t>(each))},
                                    torch::TensorOptions().device(torch::kCUDA)));
  }
  auto maps = torch::empty({512}, torch::TensorOptions().device(torch::kCUDA));
  kernels::upload_quant_maps(maps.data_ptr<float>(), maps.data_ptr<float>() + 256, stream());
  const auto kdtype = dtype == "f32" ? kernels::DType::f32 : kernels::DType::bf16;
  std::vector<double> evict_ms, fault_ms;
  for (int step = 1; step <= o.paging_steps; ++step) {
    evict_ms.push_back(bench::time_once(stream(), [&] {
      for (auto& b : state) b.prefetch_to_host(stream());
    }));
    optim::AdamHyper h;
    h.step = step;
    fault_ms.push_back(bench::time_once(stream(), [&] {
      for (std::size_t i = 0; i < ps.p.size(); ++i) {
        auto* base = static_cast<unsigned char*>(state[i].get());
        const auto n = static_cast<std::int64_t>(each);
        if (eight) {
          float* am = absmax[i].data_ptr<float>();
          kernels::adamw8bit_blockwise(ps.p[i].data_ptr(), ps.p[i].grad().data_ptr(), kdtype, base,
                                       base + each, am, am + optim::quant_blocks(n), maps.data_ptr<float>(),
                                       maps.data_ptr<float>() + 256, n, h, stream());
        } else {
          auto* m = reinterpret_cast<float*>(base);
          kernels::adamw32_fused(ps.p[i].data_ptr(), ps.p[i].grad().data_ptr(), kdtype, m, m + each, n, h,
                                 stream());
        }
      }
    }));
  }
  const double ev = bench::median(evict_ms);
  const double fa = bench::median(fault_ms);
  r.set("ms", fa).set("eviction_ms", ev).set("state_bytes", static_cast<double>(total));
  r.set("migration_gbps", total / (fa * 1e-3) / 1e9).set("eviction_gbps", total / (ev * 1e-3) / 1e9);
  state.clear();
  absmax.clear();
  release_cache();
  return r;
}

Json goals(const std::vector<Json>& results) {
  // Looks results up by variant, dtype and mode, and states each goal of issue 4 with its number.
  Json g;
  const auto find = [&](const std::string& v, const std::string& d, const std::string& mode) -> const Json* {
    for (const auto& r : results)
      if (r.str("variant") == v && r.str("dtype") == d && r.str("mode") == mode && !r.has("skipped"))
        return &r;
    return nullptr;
  };
  std::vector<Json> list;
  for (const std::string d : {"f32", "bf16"}) {
    for (const std::string v : {"adamw_32bit", "adamw_8bit"}) {
      if (const Json* r = find(v, d, "")) {
        list.push_back(Json()
                           .set("goal", v + " " + d + " within 1.2x of its floor")
                           .set("value", r->num("ratio"))
                           .set("met", r->num("ratio") <= 1.2));
      }
      const Json* plain = find(v, d, "");
      const Json* paged = find("paged_" + v, d, "");
      if (plain && paged) {
        const double over = paged->num("ms") / plain->num("ms") - 1;
        list.push_back(Json()
                           .set("goal", "paged_" + v + " " + d + " (resident) within 3 % of " + v)
                           .set("value", over)
                           .set("met", over <= 0.03));
      }
      if (const Json* off = find("offload_" + v, d, "")) {
        list.push_back(Json()
                           .set("goal", "offload_" + v + " " + d + " at >= 80 % of pinned copy bandwidth")
                           .set("value", off->num("bus_fraction"))
                           .set("met", off->num("bus_fraction") >= 0.8));
      }
    }
  }
  g.set_array("goals", list);
  return g;
}

int run(const Options& o) {
  if (!torch::cuda::is_available()) throw std::runtime_error("no CUDA device");
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  int driver = 0, runtime = 0;
  CHECK_CUDA(cudaDriverGetVersion(&driver));
  CHECK_CUDA(cudaRuntimeGetVersion(&runtime));
  const Bandwidths bw = measure_bandwidths(o);
  std::fprintf(stderr, "d2d %.0f GB/s, pinned h2d %.1f d2h %.1f, both at once %.1f GB/s each\n", bw.d2d / 1e9,
               bw.h2d / 1e9, bw.d2h / 1e9, bw.bidir_per_dir / 1e9);

  std::vector<Json> results;
  const std::vector<std::string> variants = {"adamw_torch_fused", "adamw_32bit",      "adamw_8bit",
                                             "paged_adamw_32bit", "paged_adamw_8bit", "offload_adamw_32bit",
                                             "offload_adamw_8bit"};
  for (const auto& dtype : o.dtypes) {
    Params ps = make_params(o, dtype == "f32" ? torch::kFloat32 : torch::kBFloat16);
    for (const auto& v : variants) results.push_back(timed_variant(o, v, dtype, ps, bw));
    for (const std::string v : {"paged_adamw_32bit", "paged_adamw_8bit"}) {
      results.push_back(forced_paging(o, v, dtype, ps, bw));
      // Fault-driven migration does not depend on the parameter dtype: measured once.
      if (dtype == o.dtypes.front()) results.push_back(fault_paging(o, v, dtype, ps));
    }
    ps.p.clear();
    release_cache();
  }

  Json top;
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  top.set("card", prop.name)
      .set("sm_count", prop.multiProcessorCount)
      .set("cuda_driver", driver)
      .set("cuda_runtime", runtime)
      .set("commit", o.commit)
      .set("command", o.command)
      .set("date", date);
  top.set("n_params", static_cast<double>(o.n / o.tensors * o.tensors))
      .set("tensors", static_cast<double>(o.tensors));
  top.set("steps", o.steps).set("warmup", o.warmup).set("paging_steps", o.paging_steps);
  top.set_object("bandwidth_gbps", Json()
                                       .set("device_to_device_read_plus_write", bw.d2d / 1e9)
                                       .set("pinned_h2d", bw.h2d / 1e9)
                                       .set("pinned_d2h", bw.d2h / 1e9)
                                       .set("pinned_both_directions_each", bw.bidir_per_dir / 1e9));
  top.set_array("results", results);
  top.set_array("goals", goals(results).array("goals"));
  const std::string text = top.dump(2);
  if (o.out.empty()) {
    std::cout << text << "\n";
  } else {
    std::ofstream(o.out) << text << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "optiscope_optimizer_variants_bench: %s\n", e.what());
    return 1;
  }
}
