#include "probes/cupti_capture.h"

#include <cuda_runtime_api.h>
#include <cupti.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "probes/cupti_decode.h"

namespace optiscope::probes {
namespace {

std::uint64_t steady_now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::string cupti_error(CUptiResult r) {
  const char* name = nullptr;
  const char* message = nullptr;
  std::string s = cuptiGetResultString(r, &name) == CUPTI_SUCCESS && name != nullptr
                      ? std::string(name)
                      : "CUPTI error " + std::to_string(static_cast<int>(r));
  if (cuptiGetErrorMessage(r, &message) == CUPTI_SUCCESS && message != nullptr && *message != '\0') {
    s += " (";
    s += message;
    s += ")";
  }
  return s;
}

// Describes a CUDA runtime error that one of *our* calls caused, and clears it: LibTorch checks
// cudaGetLastError() after its launches and would otherwise blame its own kernels for our probe.
std::string our_cuda_error(cudaError_t e) {
  std::string s = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
  (void)cudaGetLastError();
  return s;
}

void append_note(std::string& note, const std::string& part) {
  if (!note.empty()) note += "; ";
  note += part;
}

struct Buffer {
  std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::size_t valid = 0;
};

// Buffers travel between CUPTI's threads and ours through this process-wide sink (CUPTI's buffer
// callbacks carry no user pointer). It is never destroyed: CUPTI can call back during exit, after
// static objects are gone. The callbacks take only this mutex and call nothing of CUPTI or CUDA,
// and we never call CUPTI while holding it, so no lock-order cycle with CUPTI's own locks exists.
struct Sink {
  std::mutex mutex;
  std::vector<Buffer> free_buffers;
  std::vector<Buffer> completed;
  std::size_t buffer_bytes = std::size_t{8} << 20;
  std::size_t max_bytes = std::size_t{512} << 20;
  std::size_t allocated_bytes = 0;  // every buffer alive: with CUPTI, completed or free
  std::uint64_t buffers_completed = 0;
  std::uint64_t declined = 0;
  bool accepting = false;
};

Sink& sink() {
  static Sink* s = new Sink;
  return *s;
}

std::atomic<bool> g_session_active{false};

void CUPTIAPI on_buffer_requested(std::uint8_t** buffer, std::size_t* size, std::size_t* max_records) {
  *buffer = nullptr;
  *size = 0;
  *max_records = 0;  // as many as fit
  Sink& s = sink();
  std::size_t bytes = 0;
  {
    std::lock_guard lock(s.mutex);
    if (!s.free_buffers.empty()) {
      const Buffer b = s.free_buffers.back();
      s.free_buffers.pop_back();
      *buffer = b.data;
      *size = b.size;
      return;
    }
    bytes = s.buffer_bytes;
    if (s.allocated_bytes + bytes > s.max_bytes) {
      ++s.declined;  // CUPTI drops records and counts them; the run keeps its memory
      return;
    }
    s.allocated_bytes += bytes;  // reserved now, allocated outside the lock
  }
  auto* p = static_cast<std::uint8_t*>(std::aligned_alloc(ACTIVITY_RECORD_ALIGNMENT, bytes));
  if (p == nullptr) {
    std::lock_guard lock(s.mutex);
    s.allocated_bytes -= bytes;
    ++s.declined;
    return;
  }
  *buffer = p;
  *size = bytes;
}

void CUPTIAPI on_buffer_completed(CUcontext, std::uint32_t, std::uint8_t* buffer, std::size_t size,
                                  std::size_t valid_size) {
  if (buffer == nullptr) return;
  Sink& s = sink();
  std::lock_guard lock(s.mutex);
  if (s.accepting && valid_size > 0) {
    ++s.buffers_completed;
    s.completed.push_back({buffer, size, valid_size});
  } else {
    s.free_buffers.push_back({buffer, size, 0});
  }
}

// Subscribing claims CUPTI's single subscriber slot (and tells us who holds it); we need no
// callbacks from it.
void CUPTIAPI on_cupti_callback(void*, CUpti_CallbackDomain, CUpti_CallbackId, const void*) {}

enum class Subscribe { ok, taken, failed };

Subscribe subscribe(CUpti_SubscriberHandle& handle, std::string& why) {
  char old_name[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN + 1] = {};
  CUpti_SubscriberParams params{};
  params.structSize = CUpti_SubscriberParams_STRUCT_SIZE;
  params.subscriberName = "Optiscope";
  params.oldSubscriberName = old_name;
  params.oldSubscriberSize = CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN;
  const CUptiResult r = cuptiSubscribe_v2(&handle, on_cupti_callback, nullptr, &params);
  if (r == CUPTI_SUCCESS) return Subscribe::ok;
  if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED) {
    why = "another CUPTI client is attached";
    if (old_name[0] != '\0') why += std::string(" (") + old_name + ")";
    why += ", e.g. Nsight Systems/Compute, cuda-gdb or the torch profiler";
    return Subscribe::taken;
  }
  why = "CUPTI unavailable: " + cupti_error(r);
  return Subscribe::failed;
}

struct DeviceInfo {
  int device = 0;
  bool managed = false;
  bool concurrent_managed = false;
};

// Fills `info`, or returns why no device is usable. Creates no context.
bool find_device(DeviceInfo& info, std::string& why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    why = "no CUDA device: " + our_cuda_error(e);
    return false;
  }
  if (count == 0) {
    why = "no CUDA device";
    return false;
  }
  if (const cudaError_t g = cudaGetDevice(&info.device); g != cudaSuccess) {
    why = "no current CUDA device: " + our_cuda_error(g);
    return false;
  }
  int managed = 0;
  int concurrent = 0;
  if (cudaDeviceGetAttribute(&managed, cudaDevAttrManagedMemory, info.device) != cudaSuccess) {
    (void)cudaGetLastError();
  }
  if (cudaDeviceGetAttribute(&concurrent, cudaDevAttrConcurrentManagedAccess, info.device) != cudaSuccess) {
    (void)cudaGetLastError();
  }
  info.managed = managed != 0;
  info.concurrent_managed = concurrent != 0;
  return true;
}

constexpr CUpti_ActivityUnifiedMemoryCounterKind kUmKinds[] = {
    CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD,
    CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOH,
    CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_CPU_PAGE_FAULT_COUNT,
    CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_GPU_PAGE_FAULT,
    CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_THRASHING,
    CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_THROTTLING,
    CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_REMOTE_MAP,
    CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOD,
};

const char* um_kind_name(CUpti_ActivityUnifiedMemoryCounterKind k) {
  switch (k) {
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD:
      return "HtoD";
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOH:
      return "DtoH";
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_CPU_PAGE_FAULT_COUNT:
      return "CPU page faults";
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_GPU_PAGE_FAULT:
      return "GPU page faults";
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_THRASHING:
      return "thrashing";
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_THROTTLING:
      return "throttling";
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_REMOTE_MAP:
      return "remote map";
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOD:
      return "DtoD";
    default:
      return "?";
  }
}

}  // namespace

struct CuptiCapture::Impl {
  std::mutex control;  // serialises start / flush / stop
  mutable std::mutex data;
  // Guarded by `data`:
  CaptureCapability cap;
  CaptureStats stats;
  CapturedEvents pending;  // decoded by stop(), not yet taken
  // Guarded by `control`:
  CaptureOptions options;
  CUpti_SubscriberHandle subscriber = nullptr;
  std::vector<CUpti_ActivityKind> enabled;
  bool owns_session = false;

  std::atomic<bool> running{false};
  std::atomic<std::int64_t> cupti_minus_steady{0};

  void measure_clock_offset() {
    // Bracket one CUPTI reading between two steady readings; the narrowest bracket of a few wins.
    std::uint64_t best_width = std::numeric_limits<std::uint64_t>::max();
    for (int i = 0; i < 5; ++i) {
      std::uint64_t c = 0;
      const std::uint64_t s0 = steady_now_ns();
      if (cuptiGetTimestamp(&c) != CUPTI_SUCCESS) return;  // now_ns() then falls back to steady too
      const std::uint64_t s1 = steady_now_ns();
      if (s1 - s0 < best_width) {
        best_width = s1 - s0;
        cupti_minus_steady = static_cast<std::int64_t>(c - (s0 + (s1 - s0) / 2));
      }
    }
  }

  void note(const std::string& part) {
    std::lock_guard lock(data);
    if (cap.note.find(part) == std::string::npos) append_note(cap.note, part);
  }

  void read_dropped() {
    std::size_t dropped = 0;
    if (cuptiActivityGetNumDroppedRecords(nullptr, 0, &dropped) == CUPTI_SUCCESS && dropped > 0) {
      std::lock_guard lock(data);
      stats.dropped_records += dropped;
    }
  }

  void flush_forced() {
    if (const CUptiResult r = cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED); r != CUPTI_SUCCESS) {
      note("flush failed: " + cupti_error(r));
    }
  }

  void synchronize() {
    // A failure here is the training's own (sticky) error; leave it for LibTorch to report.
    if (const cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess) {
      note(std::string("device synchronize failed: ") + cudaGetErrorName(e));
    }
  }

  // Decodes every buffer CUPTI has handed back, appending to `out`.
  void drain(CapturedEvents& out) {
    Sink& s = sink();
    std::vector<Buffer> ready;
    {
      std::lock_guard lock(s.mutex);
      ready.swap(s.completed);
    }
    DecodeStats ds;
    try {
      for (const Buffer& b : ready) decode_activity_buffer(b.data, b.valid, out, ds);
    } catch (...) {
      give_back(ready);
      throw;
    }
    give_back(ready);
    std::lock_guard lock(data);
    stats.decode += ds;
    stats.invalid_timestamps = stats.decode.invalid_timestamps;
  }

  static void give_back(const std::vector<Buffer>& buffers) {
    Sink& s = sink();
    std::lock_guard lock(s.mutex);
    for (const Buffer& b : buffers) s.free_buffers.push_back({b.data, b.size, 0});
  }

  static void free_idle_buffers() {
    Sink& s = sink();
    std::vector<Buffer> idle;
    {
      std::lock_guard lock(s.mutex);
      idle.swap(s.free_buffers);
      for (const Buffer& b : idle) s.allocated_bytes -= b.size;
    }
    for (const Buffer& b : idle) std::free(b.data);
  }

  // Gives CUPTI back; a no-op for an object that never claimed the session.
  void release_session() {
    if (!owns_session) return;
    if (subscriber != nullptr) {
      (void)cuptiUnsubscribe(subscriber);
      subscriber = nullptr;
    }
    {
      Sink& s = sink();
      std::lock_guard lock(s.mutex);
      s.accepting = false;
    }
    enabled.clear();
    owns_session = false;
    g_session_active = false;
  }

  // After an exception escaped start(): undo whatever it had switched on.
  void abandon_start() {
    std::lock_guard control_lock(control);
    if (running) return;
    for (auto it = enabled.rbegin(); it != enabled.rend(); ++it) (void)cuptiActivityDisable(*it);
    release_session();
  }

  bool enable(CUpti_ActivityKind kind, std::string& why) {
    const CUptiResult r = cuptiActivityEnable(kind);
    if (r != CUPTI_SUCCESS) {
      why = cupti_error(r);
      return false;
    }
    enabled.push_back(kind);
    return true;
  }

  void configure_unified_memory(int device, CaptureCapability& c) {
    std::vector<CUpti_ActivityUnifiedMemoryCounterConfig> configs;
    for (const auto kind : kUmKinds) {
      CUpti_ActivityUnifiedMemoryCounterConfig cfg{};
      cfg.scope = CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_SCOPE_PROCESS_SINGLE_DEVICE;
      cfg.kind = kind;
      cfg.deviceId = static_cast<std::uint32_t>(device);
      cfg.enable = 1;
      configs.push_back(cfg);
    }
    CUptiResult r = cuptiActivityConfigureUnifiedMemoryCounter(configs.data(),
                                                               static_cast<std::uint32_t>(configs.size()));
    std::string refused;
    if (r == CUPTI_ERROR_INVALID_PARAMETER || r == CUPTI_ERROR_NOT_SUPPORTED) {
      // Some kinds may be unsupported on this platform: keep the subset that is accepted alone.
      std::vector<CUpti_ActivityUnifiedMemoryCounterConfig> accepted;
      for (auto cfg : configs) {
        if (cuptiActivityConfigureUnifiedMemoryCounter(&cfg, 1) == CUPTI_SUCCESS) {
          accepted.push_back(cfg);
        } else {
          append_note(refused, um_kind_name(cfg.kind));
        }
      }
      if (accepted.empty()) {
        append_note(c.note, "unified-memory counters refused: " + cupti_error(r));
        return;
      }
      configs = accepted;
      r = cuptiActivityConfigureUnifiedMemoryCounter(configs.data(),
                                                     static_cast<std::uint32_t>(configs.size()));
    }
    if (r != CUPTI_SUCCESS) {
      append_note(c.note, "unified-memory counters unsupported: " + cupti_error(r));
      return;
    }
    std::string why;
    bool ok = enable(CUPTI_ACTIVITY_KIND_UNIFIED_MEMORY_COUNTER, why);
    if (!ok && why.find("NOT_READY") != std::string::npos) {
      // Trap 1 of DESIGN.md: NOT_READY until a context exists. start() made one; try once more.
      if (const cudaError_t e = cudaFree(nullptr); e != cudaSuccess) (void)our_cuda_error(e);
      ok = enable(CUPTI_ACTIVITY_KIND_UNIFIED_MEMORY_COUNTER, why);
    }
    if (!ok) {
      append_note(c.note, "unified-memory counters could not be enabled: " + why);
      return;
    }
    c.um_counters = true;
    for (const auto& cfg : configs) c.um_counter_kinds |= 1u << static_cast<unsigned>(cfg.kind);
    if (!refused.empty()) append_note(c.note, "unified-memory counter kinds refused: " + refused);
  }

  CaptureCapability start(const CaptureOptions& opt) {
    std::lock_guard control_lock(control);
    if (running) return capability();
    options = opt;
    CaptureCapability c;
    auto finish = [&](const std::string& failure) {
      if (!failure.empty()) {
        append_note(c.note, failure);
        c.um_counters = c.kernels = c.memcpy = false;
        for (auto it = enabled.rbegin(); it != enabled.rend(); ++it) (void)cuptiActivityDisable(*it);
        release_session();
      }
      std::lock_guard lock(data);
      cap = c;
      return c;
    };

    bool expected = false;
    if (!g_session_active.compare_exchange_strong(expected, true)) {
      return finish("another CuptiCapture is running in this process");
    }
    owns_session = true;
    if (std::uint32_t v = 0; cuptiGetVersion(&v) == CUPTI_SUCCESS) c.cupti_version = v;

    DeviceInfo dev;
    std::string why;
    if (!find_device(dev, why)) return finish(why);

    // One global buffer queue instead of per-thread buffers, so that the dropped-record counter of
    // the global queue covers everything. Must precede the callbacks and any enable.
    std::uint8_t per_thread = 0;
    std::size_t attr_size = sizeof per_thread;
    if (const CUptiResult r = cuptiActivitySetAttribute(CUPTI_ACTIVITY_ATTR_PER_THREAD_ACTIVITY_BUFFER,
                                                        &attr_size, &per_thread);
        r != CUPTI_SUCCESS) {
      append_note(c.note, "per-thread activity buffers stay on: " + cupti_error(r));
    }

    if (subscribe(subscriber, why) != Subscribe::ok) {
      subscriber = nullptr;
      return finish(why);
    }

    {
      Sink& s = sink();
      std::lock_guard lock(s.mutex);
      const std::size_t align = ACTIVITY_RECORD_ALIGNMENT;
      s.buffer_bytes = std::max<std::size_t>((opt.buffer_bytes + align - 1) / align * align, 64 * 1024);
      s.max_bytes = std::max(opt.max_buffered_bytes, s.buffer_bytes);
      s.buffers_completed = 0;
      s.declined = 0;
      s.accepting = true;
    }
    {
      std::lock_guard lock(data);
      stats = {};
    }
    if (const CUptiResult r = cuptiActivityRegisterCallbacks(on_buffer_requested, on_buffer_completed);
        r != CUPTI_SUCCESS) {
      return finish("could not register activity buffers: " + cupti_error(r));
    }

    // Trap 1 of DESIGN.md: the UM counter kind is NOT_READY until a CUDA context exists.
    if (const cudaError_t e = cudaFree(nullptr); e != cudaSuccess) {
      return finish("could not create a CUDA context: " + our_cuda_error(e));
    }

    if (opt.kernels) {
      if (enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, why)) {
        c.kernels = true;
      } else {
        append_note(c.note, "kernel capture unavailable: " + why);
      }
    }
    if (opt.memcpy) {
      if (enable(CUPTI_ACTIVITY_KIND_MEMCPY, why)) {
        c.memcpy = true;
      } else {
        append_note(c.note, "memcpy capture unavailable: " + why);
      }
    }
    if (opt.unified_memory) {
      if (!dev.managed) {
        append_note(c.note, "device has no managed memory: no unified-memory counters");
      } else {
        configure_unified_memory(dev.device, c);
        if (c.um_counters && !dev.concurrent_managed) {
          append_note(c.note,
                      "device lacks concurrent managed access: no GPU page-fault migrations to record");
        }
      }
    }
    if (!c.um_counters && !c.kernels && !c.memcpy) return finish("nothing could be enabled");

    measure_clock_offset();
    running = true;
    return finish({});
  }

  void flush(bool synchronize_device) {
    std::lock_guard control_lock(control);
    if (!running) return;
    if (synchronize_device) synchronize();
    flush_forced();
    read_dropped();
  }

  void stop() {
    std::lock_guard control_lock(control);
    if (!running) return;
    synchronize();
    flush_forced();
    if (options.stop_settle.count() > 0) std::this_thread::sleep_for(options.stop_settle);
    flush_forced();
    for (auto it = enabled.rbegin(); it != enabled.rend(); ++it) (void)cuptiActivityDisable(*it);
    flush_forced();
    read_dropped();
    CapturedEvents tail;
    drain(tail);
    {
      std::lock_guard lock(data);
      pending.append(std::move(tail));
    }
    release_session();
    free_idle_buffers();
    running = false;
  }

  CapturedEvents take() {
    CapturedEvents out;
    {
      std::lock_guard lock(data);
      out = std::move(pending);
      pending = {};
    }
    drain(out);
    return out;
  }

  CaptureCapability capability() const {
    std::lock_guard lock(data);
    return cap;
  }

  CaptureStats current_stats() const {
    CaptureStats s;
    {
      std::lock_guard lock(data);
      s = stats;
    }
    Sink& k = sink();
    std::lock_guard lock(k.mutex);
    s.buffers = k.buffers_completed;
    s.buffer_requests_declined = k.declined;
    return s;
  }
};

CuptiCapture::CuptiCapture() : impl_(std::make_unique<Impl>()) {
  impl_->measure_clock_offset();
}

CuptiCapture::~CuptiCapture() {
  stop();
}

CaptureCapability CuptiCapture::probe() noexcept {
  CaptureCapability c;
  try {
    if (std::uint32_t v = 0; cuptiGetVersion(&v) == CUPTI_SUCCESS) c.cupti_version = v;
    DeviceInfo dev;
    std::string why;
    if (!find_device(dev, why)) {
      c.note = why;
      return c;
    }
    c.kernels = c.memcpy = true;
    c.um_counters = dev.managed;
    if (!dev.managed) append_note(c.note, "device has no managed memory: no unified-memory counters");
    if (dev.managed && !dev.concurrent_managed) {
      append_note(c.note, "device lacks concurrent managed access: no GPU page-fault migrations to record");
    }
    std::error_code ec;
    if (dev.managed && !std::filesystem::exists("/dev/nvidia-uvm-tools", ec)) {
      append_note(c.note,
                  "no /dev/nvidia-uvm-tools (container without the UVM tools device?): "
                  "unified-memory counters may be refused");
    }
    if (g_session_active) {
      append_note(c.note, "a capture is already running in this process");
      return c;
    }
    CUpti_SubscriberHandle handle = nullptr;
    if (subscribe(handle, why) == Subscribe::ok) {
      (void)cuptiUnsubscribe(handle);
    } else {
      c.um_counters = c.kernels = c.memcpy = false;
      append_note(c.note, why);
    }
  } catch (const std::exception& e) {
    c = {};
    c.note = std::string("capability probe failed: ") + e.what();
  } catch (...) {
    c = {};
    c.note = "capability probe failed";
  }
  return c;
}

CaptureCapability CuptiCapture::start(const CaptureOptions& options) noexcept {
  try {
    return impl_->start(options);
  } catch (const std::exception& e) {
    // Only allocation can throw in there; give CUPTI back and carry on without capture.
    try {
      impl_->abandon_start();
    } catch (...) {
    }
    CaptureCapability c;
    c.note = std::string("capture failed to start: ") + e.what();
    return c;
  } catch (...) {
    try {
      impl_->abandon_start();
    } catch (...) {
    }
    CaptureCapability c;
    c.note = "capture failed to start";
    return c;
  }
}

void CuptiCapture::flush(bool synchronize_device) noexcept {
  try {
    impl_->flush(synchronize_device);
  } catch (...) {
  }
}

CapturedEvents CuptiCapture::take_events() noexcept {
  try {
    return impl_->take();
  } catch (...) {
    return {};
  }
}

void CuptiCapture::stop() noexcept {
  try {
    impl_->stop();
  } catch (...) {
  }
}

bool CuptiCapture::running() const noexcept {
  return impl_->running;
}

CaptureCapability CuptiCapture::capability() const noexcept {
  try {
    return impl_->capability();
  } catch (...) {
    return {};
  }
}

CaptureStats CuptiCapture::stats() const noexcept {
  try {
    return impl_->current_stats();
  } catch (...) {
    return {};
  }
}

std::uint64_t CuptiCapture::now_ns() noexcept {
  std::uint64_t t = 0;
  if (cuptiGetTimestamp(&t) == CUPTI_SUCCESS) return t;
  return steady_now_ns();
}

std::uint64_t CuptiCapture::to_steady_ns(std::uint64_t cupti_ns) const noexcept {
  return cupti_ns - static_cast<std::uint64_t>(impl_->cupti_minus_steady.load());
}

std::int64_t CuptiCapture::cupti_minus_steady_ns() const noexcept {
  return impl_->cupti_minus_steady.load();
}

}  // namespace optiscope::probes
