#pragma once
// Values decoded from CUPTI activity records. Plain C++ on purpose: the engine, the store and the
// tests use them on machines that have neither CUDA nor CUPTI.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace optiscope::probes {

/// CUPTI's processor id for "the CPU" in unified-memory src_id/dst_id.
inline constexpr std::uint32_t kUmCpuProcessorId = 0xFFFFFFFFu;

/// CUpti_ActivityUnifiedMemoryCounterKind, renamed after what the record describes.
enum class UmEventKind : std::uint8_t {
  bytes_htod,
  bytes_dtoh,
  cpu_page_fault,
  gpu_page_fault_group,
  thrashing,
  throttling,
  remote_map,
  bytes_dtod,
  unknown,
};

/// Why the driver migrated (CUpti_ActivityUnifiedMemoryMigrationCause); meaningful for transfers only.
enum class UmMigrationCause : std::uint8_t {
  unknown,
  user,             // cudaMemPrefetchAsync / advice
  coherence,        // CPU or GPU page fault
  prefetch,         // the driver's own speculative prefetch
  eviction,         // moved out to make room on the device
  access_counters,  // access-counter notification
};

/// Access that raised a GPU page fault (CUpti_ActivityUnifiedMemoryAccessType).
enum class UmAccessType : std::uint8_t { unknown, read, write, atomic, prefetch };

struct UnifiedMemoryEvent {
  UmEventKind kind = UmEventKind::unknown;
  std::uint64_t start_ns = 0;
  // CUPTI leaves end undefined for CPU faults, thrashing and remote maps; 0 (or == start) there.
  std::uint64_t end_ns = 0;
  // Bytes for transfers, thrashing and remote maps; number of fault groups for GPU page faults;
  // always 0 for CPU page faults, whose raw value is a program counter (see cpu_fault_pc).
  std::uint64_t value = 0;
  // Program counter of the faulting CPU instruction. Kept apart so that summing `value` over
  // records can never add addresses to counts.
  std::uint64_t cpu_fault_pc = 0;
  std::uint64_t address = 0;  // virtual base address of the page(s) concerned
  std::uint32_t src_id = 0;   // device id, or kUmCpuProcessorId
  std::uint32_t dst_id = 0;   // device id, or kUmCpuProcessorId
  std::uint32_t process_id = 0;
  // No stream id: the CUPTI 13 header documents the UM record's streamId as invalid.
  UmMigrationCause cause = UmMigrationCause::unknown;  // transfers only
  UmAccessType access = UmAccessType::unknown;         // GPU page faults only
  // Raw CUPTI flags: access type (GPU faults), migration cause (transfers), remote-map cause,
  // or CUPTI_ACTIVITY_FLAG_THRASHING_IN_CPU / _THROTTLING_IN_CPU.
  std::uint32_t flags = 0;
  // Device bitmask (processors[0] covers devices 0-63); set for thrashing.
  std::array<std::uint64_t, 5> processors{};

  bool is_transfer() const {
    return kind == UmEventKind::bytes_htod || kind == UmEventKind::bytes_dtoh ||
           kind == UmEventKind::bytes_dtod;
  }
  std::uint64_t bytes() const { return is_transfer() ? value : 0; }
};

/// CUpti_ActivityMemcpyKind (same numbering).
enum class MemcpyKind : std::uint8_t { unknown, htod, dtoh, htoa, atoh, atoa, atod, dtoa, dtod, htoh, ptop };

/// CUpti_ActivityMemoryKind (same numbering).
enum class MemoryKind : std::uint8_t {
  unknown,
  pageable,
  pinned,
  device,
  array,
  managed,
  device_static,
  managed_static
};

struct KernelEvent {
  std::string name;  // mangled, as CUPTI reports it
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  std::uint32_t device_id = 0;
  std::uint32_t context_id = 0;
  std::uint32_t stream_id = 0;
  std::uint32_t correlation_id = 0;
  std::array<std::int32_t, 3> grid{};
  std::array<std::int32_t, 3> block{};
  std::int32_t static_shared_bytes = 0;
  std::int32_t dynamic_shared_bytes = 0;
  std::uint16_t registers_per_thread = 0;
  std::uint32_t graph_id = 0;  // 0 unless launched from a CUDA graph
  // CUPTI writes start = end = 0 when it ran out of device timestamp buffers.
  bool timestamps_valid = true;
};

struct MemcpyEvent {
  MemcpyKind kind = MemcpyKind::unknown;
  MemoryKind src_kind = MemoryKind::unknown;
  MemoryKind dst_kind = MemoryKind::unknown;
  std::uint64_t bytes = 0;
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  std::uint32_t device_id = 0;
  std::uint32_t context_id = 0;
  std::uint32_t stream_id = 0;
  std::uint32_t correlation_id = 0;
  std::uint64_t copy_count = 1;  // > 1 for cudaMemcpyBatchAsync records
  bool async = false;
  bool timestamps_valid = true;
};

/// What one decode pass met besides the events themselves.
struct DecodeStats {
  std::uint64_t records_decoded = 0;
  // Records of kinds CUPTI documents but this decoder does not turn into events (overhead, memset...).
  std::uint64_t records_skipped = 0;
  // Records of a kind the CUPTI library refuses (unknown, retired or incomplete); their size is
  // unknown, so the rest of that buffer cannot be walked and is counted in bytes_undecoded.
  std::uint64_t unknown_kinds = 0;
  std::uint64_t truncated_buffers = 0;  // valid_size ended inside a record
  std::uint64_t bytes_undecoded = 0;
  std::uint64_t invalid_timestamps = 0;  // kernels/memcpys with start = end = 0 or end < start
  // Record stride differs from the struct this decoder was compiled against: CUPTI library and
  // headers disagree, so decoded fields may be wrong.
  std::uint64_t layout_mismatches = 0;

  DecodeStats& operator+=(const DecodeStats& o) {
    records_decoded += o.records_decoded;
    records_skipped += o.records_skipped;
    unknown_kinds += o.unknown_kinds;
    truncated_buffers += o.truncated_buffers;
    bytes_undecoded += o.bytes_undecoded;
    invalid_timestamps += o.invalid_timestamps;
    layout_mismatches += o.layout_mismatches;
    return *this;
  }
};

struct CapturedEvents {
  std::vector<UnifiedMemoryEvent> unified_memory;
  std::vector<KernelEvent> kernels;
  std::vector<MemcpyEvent> memcpys;

  bool empty() const { return unified_memory.empty() && kernels.empty() && memcpys.empty(); }
  void append(CapturedEvents&& o) {
    unified_memory.insert(unified_memory.end(), o.unified_memory.begin(), o.unified_memory.end());
    kernels.insert(kernels.end(), std::make_move_iterator(o.kernels.begin()),
                   std::make_move_iterator(o.kernels.end()));
    memcpys.insert(memcpys.end(), o.memcpys.begin(), o.memcpys.end());
  }
};

/// What a capture session could switch on. Stored with the run, so a chart can say why it is empty.
struct CaptureCapability {
  bool um_counters = false;
  bool kernels = false;
  bool memcpy = false;
  // Empty when everything asked for is on; otherwise one "; "-separated reason per missing part,
  // e.g. "no CUDA device: ...", "another CUPTI client is attached: Nsight Systems".
  std::string note;
  std::uint32_t cupti_version = 0;  // cuptiGetVersion, 0 when unknown
  // Bit i set: UM counter kind i (CUpti_ActivityUnifiedMemoryCounterKind numbering) was accepted.
  std::uint32_t um_counter_kinds = 0;
};

struct CaptureStats {
  std::uint64_t dropped_records = 0;  // cuptiActivityGetNumDroppedRecords, summed
  std::uint64_t buffers = 0;          // buffers CUPTI handed back
  std::uint64_t invalid_timestamps = 0;
  std::uint64_t buffer_requests_declined = 0;  // we refused CUPTI a buffer (memory cap reached)
  DecodeStats decode;                          // includes invalid_timestamps too; kept in sync by the capture
};

/// Bytes migrated, by direction and by cause. A completeness check compares these with the bytes
/// known to have moved (e.g. the size of a prefetch).
struct UmTransferTotals {
  std::uint64_t htod = 0;
  std::uint64_t dtoh = 0;
  std::uint64_t dtod = 0;
  std::array<std::uint64_t, 6> htod_by_cause{};  // indexed by UmMigrationCause
  std::array<std::uint64_t, 6> dtoh_by_cause{};
  std::uint64_t transfer_records = 0;
  std::uint64_t cpu_faults = 0;        // records, not values: a CPU fault's value is a PC
  std::uint64_t gpu_fault_groups = 0;  // summed value of GPU fault records
};

/// Totals of the transfers whose base address lies in [address_lo, address_hi).
inline UmTransferTotals summarize_transfers(
    std::span<const UnifiedMemoryEvent> events, std::uint64_t address_lo = 0,
    std::uint64_t address_hi = std::numeric_limits<std::uint64_t>::max()) {
  UmTransferTotals t;
  for (const auto& e : events) {
    if (e.address < address_lo || e.address >= address_hi) continue;
    const auto cause = static_cast<std::size_t>(e.cause);
    switch (e.kind) {
      case UmEventKind::bytes_htod:
        t.htod += e.value;
        if (cause < t.htod_by_cause.size()) t.htod_by_cause[cause] += e.value;
        ++t.transfer_records;
        break;
      case UmEventKind::bytes_dtoh:
        t.dtoh += e.value;
        if (cause < t.dtoh_by_cause.size()) t.dtoh_by_cause[cause] += e.value;
        ++t.transfer_records;
        break;
      case UmEventKind::bytes_dtod:
        t.dtod += e.value;
        ++t.transfer_records;
        break;
      case UmEventKind::cpu_page_fault:
        ++t.cpu_faults;
        break;
      case UmEventKind::gpu_page_fault_group:
        t.gpu_fault_groups += e.value;
        break;
      default:
        break;
    }
  }
  return t;
}

/// Step index for a timestamp. `boundaries` are ascending step start times on the CUPTI clock
/// (CuptiCapture::now_ns at each step start) followed by the end of the last step, so step i spans
/// [boundaries[i], boundaries[i + 1]). Returns kNoStep outside all steps.
inline constexpr std::int64_t kNoStep = -1;

inline std::int64_t step_of(std::uint64_t t_ns, std::span<const std::uint64_t> boundaries) {
  if (boundaries.size() < 2 || t_ns < boundaries.front() || t_ns >= boundaries.back()) return kNoStep;
  const auto it = std::upper_bound(boundaries.begin(), boundaries.end(), t_ns);
  return static_cast<std::int64_t>(it - boundaries.begin()) - 1;
}

/// Step of every event, by its start time. By timestamp rather than by which flush delivered the
/// record, because unified-memory records arrive late, often after the next step has begun.
template <typename Event>
std::vector<std::int64_t> assign_to_steps(std::span<const Event> events,
                                          std::span<const std::uint64_t> boundaries) {
  std::vector<std::int64_t> steps;
  steps.reserve(events.size());
  for (const auto& e : events) steps.push_back(step_of(e.start_ns, boundaries));
  return steps;
}

template <typename Event>
std::vector<std::int64_t> assign_to_steps(const std::vector<Event>& events,
                                          const std::vector<std::uint64_t>& boundaries) {
  return assign_to_steps(std::span<const Event>(events), std::span<const std::uint64_t>(boundaries));
}

inline const char* to_string(UmEventKind k) {
  switch (k) {
    case UmEventKind::bytes_htod:
      return "bytes_htod";
    case UmEventKind::bytes_dtoh:
      return "bytes_dtoh";
    case UmEventKind::cpu_page_fault:
      return "cpu_page_fault";
    case UmEventKind::gpu_page_fault_group:
      return "gpu_page_fault_group";
    case UmEventKind::thrashing:
      return "thrashing";
    case UmEventKind::throttling:
      return "throttling";
    case UmEventKind::remote_map:
      return "remote_map";
    case UmEventKind::bytes_dtod:
      return "bytes_dtod";
    case UmEventKind::unknown:
      break;
  }
  return "unknown";
}

inline const char* to_string(UmMigrationCause c) {
  switch (c) {
    case UmMigrationCause::user:
      return "user";
    case UmMigrationCause::coherence:
      return "coherence";
    case UmMigrationCause::prefetch:
      return "prefetch";
    case UmMigrationCause::eviction:
      return "eviction";
    case UmMigrationCause::access_counters:
      return "access_counters";
    case UmMigrationCause::unknown:
      break;
  }
  return "unknown";
}

inline const char* to_string(MemcpyKind k) {
  static constexpr const char* kNames[] = {"unknown", "htod", "dtoh", "htoa", "atoh", "atoa",
                                           "atod",    "dtoa", "dtod", "htoh", "ptop"};
  const auto i = static_cast<std::size_t>(k);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

}  // namespace optiscope::probes
