// Our 8-bit and 32-bit AdamW updates on inputs that tests/bnb/compare_with_bnb.py wrote with
// bitsandbytes' own, for the script to compare. Raw little-endian files in one directory
// (n elements; T = float32 or bfloat16 as --dtype says; codes uint8; absmax float32[ceil(n/256)]):
//
//   in_K_p, in_K_g (T), in_K_s1, in_K_s2 (codes, or float32 moments with --bits 32), and for 8-bit
//   in_K_a1, in_K_a2: the state before bitsandbytes' step K (K = 1..steps).
//   Writes cuda_K_* and cpu_K_* (p, s1, s2[, a1, a2]): one step of our CUDA kernel and of the CPU
//   oracle from that same state ("teacher-forced": every step starts where bitsandbytes was).
//   Then free-running from in_1_*: all steps with in_K_g, our state only; writes free_cuda_* and
//   free_cpu_* after the last step.
//
//   Also writes our_qmap1 / our_qmap2 (float32[256]): our signed and unsigned maps.
//
//   optiscope_bnb_compare --dir D --n N --steps S --dtype f32|bf16 --bits 8|32
//       --lr X --beta1 X --beta2 X --eps X --wd X
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "optim/adamw_math.h"
#include "optim/dynamic_map.h"
#include "optim_kernels.h"

namespace {

using optiscope::optim::AdamHyper;
using optiscope::optim::Bf16;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

struct Options {
  std::string dir;
  std::int64_t n = 0;
  int steps = 0;
  bool bf16 = false;
  bool eight_bit = true;
  AdamHyper h;
};

std::vector<unsigned char> read_file(const std::string& path, std::size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> out(bytes);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(bytes));
  if (!in) throw std::runtime_error("cannot read " + std::to_string(bytes) + " bytes from " + path);
  return out;
}

void write_file(const std::string& path, const std::vector<unsigned char>& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// p, g, s1, s2, a1, a2 as byte arrays, host side.
struct State {
  std::vector<unsigned char> p, g, s1, s2, a1, a2;
};

struct Sizes {
  std::size_t param, state, absmax;
};

Sizes sizes(const Options& o) {
  const auto n = static_cast<std::size_t>(o.n);
  return {n * (o.bf16 ? 2 : 4), n * (o.eight_bit ? 1 : 4),
          o.eight_bit ? static_cast<std::size_t>(optiscope::optim::quant_blocks(o.n)) * 4 : 0};
}

State load(const Options& o, int k) {
  const Sizes z = sizes(o);
  const std::string base = o.dir + "/in_" + std::to_string(k) + "_";
  State s{read_file(base + "p", z.param),
          read_file(base + "g", z.param),
          read_file(base + "s1", z.state),
          read_file(base + "s2", z.state),
          {},
          {}};
  if (o.eight_bit) {
    s.a1 = read_file(base + "a1", z.absmax);
    s.a2 = read_file(base + "a2", z.absmax);
  }
  return s;
}

void save(const Options& o, const std::string& prefix, const State& s) {
  const std::string base = o.dir + "/" + prefix;
  write_file(base + "p", s.p);
  write_file(base + "s1", s.s1);
  write_file(base + "s2", s.s2);
  if (o.eight_bit) {
    write_file(base + "a1", s.a1);
    write_file(base + "a2", s.a2);
  }
}

template <typename T>
void cpu_step(const Options& o, State& s, const AdamHyper& h) {
  auto* p = reinterpret_cast<T*>(s.p.data());
  const auto* g = reinterpret_cast<const T*>(s.g.data());
  if (o.eight_bit) {
    optiscope::optim::adamw8bit_blockwise_update(p, g, s.s1.data(), s.s2.data(),
                                                 reinterpret_cast<float*>(s.a1.data()),
                                                 reinterpret_cast<float*>(s.a2.data()), o.n, h);
  } else {
    optiscope::optim::adamw32_update(p, g, reinterpret_cast<float*>(s.s1.data()),
                                     reinterpret_cast<float*>(s.s2.data()), o.n, h);
  }
}

class DeviceState {
 public:
  explicit DeviceState(const Options& o) : o_(o), z_(sizes(o)) {
    for (auto* b : {&p_, &g_, &s1_, &s2_}) check(cudaMalloc(b, std::max(z_.param, z_.state)), "cudaMalloc");
    check(cudaMalloc(&a_, 2 * z_.absmax + 4), "cudaMalloc");
    check(cudaMalloc(&maps_, 512 * sizeof(float)), "cudaMalloc");
    optiscope::kernels::upload_quant_maps(static_cast<float*>(maps_), static_cast<float*>(maps_) + 256,
                                          nullptr);
  }
  ~DeviceState() {
    for (void* b : {p_, g_, s1_, s2_, a_, maps_}) (void)cudaFree(b);
  }
  DeviceState(const DeviceState&) = delete;
  DeviceState& operator=(const DeviceState&) = delete;

  void upload(const State& s) {
    check(cudaMemcpy(p_, s.p.data(), z_.param, cudaMemcpyHostToDevice), "upload");
    check(cudaMemcpy(s1_, s.s1.data(), z_.state, cudaMemcpyHostToDevice), "upload");
    check(cudaMemcpy(s2_, s.s2.data(), z_.state, cudaMemcpyHostToDevice), "upload");
    if (o_.eight_bit) {
      check(cudaMemcpy(a_, s.a1.data(), z_.absmax, cudaMemcpyHostToDevice), "upload");
      check(cudaMemcpy(static_cast<unsigned char*>(a_) + z_.absmax, s.a2.data(), z_.absmax,
                       cudaMemcpyHostToDevice),
            "upload");
    }
  }
  void step(const std::vector<unsigned char>& g, const AdamHyper& h) {
    check(cudaMemcpy(g_, g.data(), z_.param, cudaMemcpyHostToDevice), "upload");
    const auto dtype = o_.bf16 ? optiscope::kernels::DType::bf16 : optiscope::kernels::DType::f32;
    if (o_.eight_bit) {
      auto* a = static_cast<float*>(a_);
      optiscope::kernels::adamw8bit_blockwise(
          p_, g_, dtype, static_cast<std::uint8_t*>(s1_), static_cast<std::uint8_t*>(s2_), a,
          a + z_.absmax / 4, static_cast<float*>(maps_), static_cast<float*>(maps_) + 256, o_.n, h, nullptr);
    } else {
      optiscope::kernels::adamw32_fused(p_, g_, dtype, static_cast<float*>(s1_), static_cast<float*>(s2_),
                                        o_.n, h, nullptr);
    }
    check(cudaDeviceSynchronize(), "step");
  }
  State download() const {
    State s{std::vector<unsigned char>(z_.param),  {},
            std::vector<unsigned char>(z_.state),  std::vector<unsigned char>(z_.state),
            std::vector<unsigned char>(z_.absmax), std::vector<unsigned char>(z_.absmax)};
    check(cudaMemcpy(s.p.data(), p_, z_.param, cudaMemcpyDeviceToHost), "download");
    check(cudaMemcpy(s.s1.data(), s1_, z_.state, cudaMemcpyDeviceToHost), "download");
    check(cudaMemcpy(s.s2.data(), s2_, z_.state, cudaMemcpyDeviceToHost), "download");
    if (o_.eight_bit) {
      check(cudaMemcpy(s.a1.data(), a_, z_.absmax, cudaMemcpyDeviceToHost), "download");
      check(cudaMemcpy(s.a2.data(), static_cast<unsigned char*>(a_) + z_.absmax, z_.absmax,
                       cudaMemcpyDeviceToHost),
            "download");
    }
    return s;
  }

 private:
  const Options& o_;
  Sizes z_;
  void *p_ = nullptr, *g_ = nullptr, *s1_ = nullptr, *s2_ = nullptr, *a_ = nullptr, *maps_ = nullptr;
};

int run(const Options& o) {
  // Our maps, for the script to hold against bitsandbytes' create_dynamic_map.
  for (const auto& [name, map] : {std::pair{"our_qmap1", &optiscope::optim::signed_dynamic_map()},
                                  std::pair{"our_qmap2", &optiscope::optim::unsigned_dynamic_map()}}) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(map->data());
    write_file(o.dir + "/" + name, std::vector<unsigned char>(bytes, bytes + sizeof(*map)));
  }
  DeviceState dev(o);
  const auto cpu = [&](State& s, const AdamHyper& h) {
    o.bf16 ? cpu_step<Bf16>(o, s, h) : cpu_step<float>(o, s, h);
  };
  AdamHyper h = o.h;
  for (int k = 1; k <= o.steps; ++k) {
    h.step = k;
    State in = load(o, k);
    dev.upload(in);
    dev.step(in.g, h);
    save(o, "cuda_" + std::to_string(k) + "_", dev.download());
    cpu(in, h);
    save(o, "cpu_" + std::to_string(k) + "_", in);
  }
  State cpu_state = load(o, 1);
  dev.upload(cpu_state);
  for (int k = 1; k <= o.steps; ++k) {
    h.step = k;
    const std::vector<unsigned char> g = k == 1 ? cpu_state.g : load(o, k).g;
    dev.step(g, h);
    cpu_state.g = g;
    cpu(cpu_state, h);
  }
  save(o, "free_cuda_", dev.download());
  save(o, "free_cpu_", cpu_state);
  std::printf("optiscope_bnb_compare: %d steps of %lld elements written to %s\n", o.steps,
              static_cast<long long>(o.n), o.dir.c_str());
  return 0;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const std::string v = argv[i + 1];
    if (a == "--dir")
      o.dir = v;
    else if (a == "--n")
      o.n = std::stoll(v);
    else if (a == "--steps")
      o.steps = std::stoi(v);
    else if (a == "--dtype")
      o.bf16 = v == "bf16";
    else if (a == "--bits")
      o.eight_bit = v == "8";
    else if (a == "--lr")
      o.h.lr = std::stof(v);
    else if (a == "--beta1")
      o.h.beta1 = std::stof(v);
    else if (a == "--beta2")
      o.h.beta2 = std::stof(v);
    else if (a == "--eps")
      o.h.eps = std::stof(v);
    else if (a == "--wd")
      o.h.weight_decay = std::stof(v);
    else
      throw std::invalid_argument("unknown argument " + a);
  }
  if (o.dir.empty() || o.n <= 0 || o.steps <= 0)
    throw std::invalid_argument("--dir, --n and --steps are required");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "optiscope_bnb_compare: %s\n", e.what());
    return 1;
  }
}
