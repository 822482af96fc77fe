#pragma once
// Small helpers of the GPU benchmarks: argument parsing, a JSON builder, CUDA-event timing and
// RAII device, pinned and managed buffers. Header-only; CUDA runtime only (no LibTorch).
#include <cuda_runtime.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace optiscope::bench {

inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}
#define CHECK_CUDA(expr) ::optiscope::bench::check_cuda((expr), #expr)

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

class Args {
 public:
  Args(int argc, char** argv) : argv_(argv + 1, argv + argc) {}
  bool more() const { return i_ < argv_.size(); }
  std::string flag() { return argv_[i_++]; }
  std::string text() {
    if (!more()) throw std::invalid_argument(argv_[i_ - 1] + " needs a value");
    return argv_[i_++];
  }
  std::int64_t integer() {
    const std::string s = text();
    std::int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || ptr != s.data() + s.size() || v <= 0)
      throw std::invalid_argument("bad number " + s);
    return v;
  }

 private:
  std::vector<std::string> argv_;
  std::size_t i_ = 0;
};

/// An ordered JSON object; values are strings, numbers, booleans, objects or arrays of objects.
class Json {
 public:
  Json& set(const std::string& k, const std::string& v) { return put(k, v); }
  Json& set(const std::string& k, const char* v) { return put(k, std::string(v)); }
  Json& set(const std::string& k, double v) { return put(k, v); }
  Json& set(const std::string& k, int v) { return put(k, static_cast<double>(v)); }
  Json& set(const std::string& k, std::int64_t v) { return put(k, static_cast<double>(v)); }
  Json& set(const std::string& k, bool v) { return put(k, v); }
  Json& set_object(const std::string& k, const Json& v) { return put(k, std::make_shared<Json>(v)); }
  Json& set_array(const std::string& k, const std::vector<Json>& v) { return put(k, v); }

  bool has(const std::string& k) const { return find(k) != nullptr; }
  std::string str(const std::string& k) const {
    const Value* v = find(k);
    return v != nullptr && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v)
                                                                   : std::string();
  }
  double num(const std::string& k) const {
    const Value* v = find(k);
    return v != nullptr && std::holds_alternative<double>(*v) ? std::get<double>(*v) : 0.0;
  }
  std::vector<Json> array(const std::string& k) const {
    const Value* v = find(k);
    return v != nullptr && std::holds_alternative<std::vector<Json>>(*v) ? std::get<std::vector<Json>>(*v)
                                                                         : std::vector<Json>{};
  }

  std::string dump(int indent, int depth = 0) const {
    const std::string pad(static_cast<std::size_t>(indent * (depth + 1)), ' ');
    const std::string end_pad(static_cast<std::size_t>(indent * depth), ' ');
    std::string out = "{";
    for (std::size_t i = 0; i < items_.size(); ++i) {
      out += (i ? ",\n" : "\n") + pad + quote(items_[i].first) + ": " +
             value(items_[i].second, indent, depth + 1);
    }
    return out + (items_.empty() ? "}" : "\n" + end_pad + "}");
  }

 private:
  using Value = std::variant<std::string, double, bool, std::shared_ptr<Json>, std::vector<Json>>;
  template <typename T>
  Json& put(const std::string& k, T v) {
    for (auto& [key, val] : items_) {
      if (key == k) {
        val = Value(std::move(v));
        return *this;
      }
    }
    items_.emplace_back(k, Value(std::move(v)));
    return *this;
  }
  const Value* find(const std::string& k) const {
    for (const auto& [key, val] : items_)
      if (key == k) return &val;
    return nullptr;
  }
  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out + "\"";
  }
  static std::string value(const Value& v, int indent, int depth) {
    if (const auto* s = std::get_if<std::string>(&v)) return quote(*s);
    if (const auto* d = std::get_if<double>(&v)) {
      if (!std::isfinite(*d)) return "null";  // JSON has no inf or NaN
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6g", *d);
      return buf;
    }
    if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
    if (const auto* o = std::get_if<std::shared_ptr<Json>>(&v)) return (*o)->dump(indent, depth);
    const auto& a = std::get<std::vector<Json>>(v);
    const std::string pad(static_cast<std::size_t>(indent * (depth + 1)), ' ');
    std::string out = "[";
    for (std::size_t i = 0; i < a.size(); ++i) out += (i ? ",\n" : "\n") + pad + a[i].dump(indent, depth + 1);
    return out + (a.empty() ? "]" : "\n" + std::string(static_cast<std::size_t>(indent * depth), ' ') + "]");
  }

  std::vector<std::pair<std::string, Value>> items_;
};

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
}

/// Milliseconds between two events on `stream` around fn(), waiting for the end.
template <typename Fn>
double time_once(cudaStream_t stream, Fn&& fn) {
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaEventRecord(start, stream));
  fn();
  CHECK_CUDA(cudaEventRecord(stop, stream));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float ms = 0.0f;
  CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
  (void)cudaEventDestroy(start);
  (void)cudaEventDestroy(stop);
  return ms;
}

/// Median of `timed` calls of fn() after `warmup` untimed ones.
template <typename Fn>
double median_ms(int warmup, int timed, cudaStream_t stream, Fn&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  CHECK_CUDA(cudaStreamSynchronize(stream));
  std::vector<double> ms;
  for (int i = 0; i < timed; ++i) ms.push_back(time_once(stream, fn));
  return median(ms);
}

class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) { CHECK_CUDA(cudaMalloc(&ptr_, bytes)); }
  ~DeviceBuffer() { (void)cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

class PinnedBuffer {
 public:
  explicit PinnedBuffer(std::size_t bytes) {
    CHECK_CUDA(cudaHostAlloc(&ptr_, bytes, cudaHostAllocDefault));
    std::fill_n(static_cast<unsigned char*>(ptr_), bytes, static_cast<unsigned char>(1));
  }
  ~PinnedBuffer() { (void)cudaFreeHost(ptr_); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

/// Managed memory attached to the host, as paged state is; refused beyond free device memory.
class ManagedBuffer {
 public:
  explicit ManagedBuffer(std::size_t bytes) : bytes_(bytes) {
    std::size_t free = 0;
    std::size_t total = 0;
    CHECK_CUDA(cudaMemGetInfo(&free, &total));
    if (bytes > free) throw std::runtime_error("managed buffer larger than free device memory");
    CHECK_CUDA(cudaMallocManaged(&ptr_, bytes, cudaMemAttachHost));
  }
  ManagedBuffer(ManagedBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(o.bytes_) {}
  ManagedBuffer(const ManagedBuffer&) = delete;
  ManagedBuffer& operator=(const ManagedBuffer&) = delete;
  ManagedBuffer& operator=(ManagedBuffer&&) = delete;
  ~ManagedBuffer() {
    if (ptr_ != nullptr) (void)cudaFree(ptr_);
  }
  void* get() const { return ptr_; }
  void prefetch_to_host(cudaStream_t stream) const {
    cudaMemLocation host{};
    host.type = cudaMemLocationTypeHost;
    CHECK_CUDA(cudaMemPrefetchAsync(ptr_, bytes_, host, 0, stream));
  }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

/// A second stream that starts after, and is joined back into, a main stream.
class SideStream {
 public:
  SideStream() {
    CHECK_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CHECK_CUDA(cudaEventCreateWithFlags(&forked_, cudaEventDisableTiming));
    CHECK_CUDA(cudaEventCreateWithFlags(&joined_, cudaEventDisableTiming));
  }
  ~SideStream() {
    (void)cudaStreamSynchronize(stream_);
    (void)cudaEventDestroy(forked_);
    (void)cudaEventDestroy(joined_);
    (void)cudaStreamDestroy(stream_);
  }
  SideStream(const SideStream&) = delete;
  SideStream& operator=(const SideStream&) = delete;
  cudaStream_t get() const { return stream_; }
  void fork(cudaStream_t main) {
    CHECK_CUDA(cudaEventRecord(forked_, main));
    CHECK_CUDA(cudaStreamWaitEvent(stream_, forked_, 0));
  }
  void join(cudaStream_t main) {
    CHECK_CUDA(cudaEventRecord(joined_, stream_));
    CHECK_CUDA(cudaStreamWaitEvent(main, joined_, 0));
  }

 private:
  cudaStream_t stream_ = nullptr;
  cudaEvent_t forked_ = nullptr;
  cudaEvent_t joined_ = nullptr;
};

}  // namespace optiscope::bench
