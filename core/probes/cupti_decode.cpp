#include "probes/cupti_decode.h"

#include <cupti.h>

#include <cstring>

namespace optiscope::probes {
namespace {

// The record versions CUPTI 13.0 emits (see the CUpti_ActivityKind docs in cupti_activity.h). A new
// CUPTI major version may grow them; these asserts make that a build error instead of silent
// misreads, and layout_mismatches catches a newer library loaded at run time.
static_assert(sizeof(CUpti_ActivityUnifiedMemoryCounter3) == 104);
static_assert(sizeof(CUpti_ActivityKernel10) == 216);
static_assert(sizeof(CUpti_ActivityMemcpy6) == 96);
static_assert(offsetof(CUpti_ActivityUnifiedMemoryCounter3, processors) == 64);

// Size of the record struct the 13.0 headers name for each kind that can reach an activity buffer;
// 0 for kinds whose size we do not know. Used only to check where the last record ends.
std::size_t record_size(CUpti_ActivityKind kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_KIND_MEMCPY:
      return sizeof(CUpti_ActivityMemcpy6);
    case CUPTI_ACTIVITY_KIND_MEMSET:
      return sizeof(CUpti_ActivityMemset4);
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
      return sizeof(CUpti_ActivityKernel10);
    case CUPTI_ACTIVITY_KIND_DRIVER:
    case CUPTI_ACTIVITY_KIND_RUNTIME:
    case CUPTI_ACTIVITY_KIND_INTERNAL_LAUNCH_API:
      return sizeof(CUpti_ActivityAPI);
    case CUPTI_ACTIVITY_KIND_DEVICE:
      return sizeof(CUpti_ActivityDevice5);
    case CUPTI_ACTIVITY_KIND_CONTEXT:
      return sizeof(CUpti_ActivityContext3);
    case CUPTI_ACTIVITY_KIND_NAME:
      return sizeof(CUpti_ActivityName);
    case CUPTI_ACTIVITY_KIND_MARKER:
      return sizeof(CUpti_ActivityMarker2);
    case CUPTI_ACTIVITY_KIND_MARKER_DATA:
      return sizeof(CUpti_ActivityMarkerData2);
    case CUPTI_ACTIVITY_KIND_OVERHEAD:
      return sizeof(CUpti_ActivityOverhead3);
    case CUPTI_ACTIVITY_KIND_CDP_KERNEL:
      return sizeof(CUpti_ActivityCdpKernel);
    case CUPTI_ACTIVITY_KIND_PREEMPTION:
      return sizeof(CUpti_ActivityPreemption);
    case CUPTI_ACTIVITY_KIND_ENVIRONMENT:
      return sizeof(CUpti_ActivityEnvironment);
    case CUPTI_ACTIVITY_KIND_MEMCPY2:
      return sizeof(CUpti_ActivityMemcpyPtoP4);
    case CUPTI_ACTIVITY_KIND_UNIFIED_MEMORY_COUNTER:
      return sizeof(CUpti_ActivityUnifiedMemoryCounter3);
    case CUPTI_ACTIVITY_KIND_FUNCTION:
      return sizeof(CUpti_ActivityFunction);
    case CUPTI_ACTIVITY_KIND_MODULE:
      return sizeof(CUpti_ActivityModule);
    case CUPTI_ACTIVITY_KIND_DEVICE_ATTRIBUTE:
      return sizeof(CUpti_ActivityDeviceAttribute);
    case CUPTI_ACTIVITY_KIND_CUDA_EVENT:
      return sizeof(CUpti_ActivityCudaEvent2);
    case CUPTI_ACTIVITY_KIND_STREAM:
      return sizeof(CUpti_ActivityStream);
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION:
      return sizeof(CUpti_ActivitySynchronization2);
    case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION:
      return sizeof(CUpti_ActivityExternalCorrelation);
    case CUPTI_ACTIVITY_KIND_NVLINK:
      return sizeof(CUpti_ActivityNvLink4);
    case CUPTI_ACTIVITY_KIND_MEMORY:
      return sizeof(CUpti_ActivityMemory);
    case CUPTI_ACTIVITY_KIND_PCIE:
      return sizeof(CUpti_ActivityPcie);
    case CUPTI_ACTIVITY_KIND_MEMORY2:
      return sizeof(CUpti_ActivityMemory4);
    case CUPTI_ACTIVITY_KIND_MEMORY_POOL:
      return sizeof(CUpti_ActivityMemoryPool3);
    case CUPTI_ACTIVITY_KIND_GRAPH_TRACE:
      return sizeof(CUpti_ActivityGraphTrace2);
    case CUPTI_ACTIVITY_KIND_JIT:
      return sizeof(CUpti_ActivityJit);
    case CUPTI_ACTIVITY_KIND_DEVICE_GRAPH_TRACE:
      return sizeof(CUpti_ActivityDeviceGraphTrace);
    case CUPTI_ACTIVITY_KIND_MEM_DECOMPRESS:
      return sizeof(CUpti_ActivityMemDecompress);
    case CUPTI_ACTIVITY_KIND_CONFIDENTIAL_COMPUTE_ROTATION:
      return sizeof(CUpti_ActivityConfidentialComputeRotation);
    default:
      return 0;
  }
}

UmEventKind um_kind(CUpti_ActivityUnifiedMemoryCounterKind k) {
  switch (k) {
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD:
      return UmEventKind::bytes_htod;
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOH:
      return UmEventKind::bytes_dtoh;
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_CPU_PAGE_FAULT_COUNT:
      return UmEventKind::cpu_page_fault;
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_GPU_PAGE_FAULT:
      return UmEventKind::gpu_page_fault_group;
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_THRASHING:
      return UmEventKind::thrashing;
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_THROTTLING:
      return UmEventKind::throttling;
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_REMOTE_MAP:
      return UmEventKind::remote_map;
    case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOD:
      return UmEventKind::bytes_dtod;
    default:
      return UmEventKind::unknown;
  }
}

UmMigrationCause migration_cause(std::uint32_t flags) {
  // CUPTI's numbering (UNKNOWN 0 ... ACCESS_COUNTERS 5) is ours; anything newer reads as unknown.
  return flags <= static_cast<std::uint32_t>(UmMigrationCause::access_counters)
             ? static_cast<UmMigrationCause>(flags)
             : UmMigrationCause::unknown;
}

UmAccessType access_type(std::uint32_t flags) {
  return flags <= static_cast<std::uint32_t>(UmAccessType::prefetch) ? static_cast<UmAccessType>(flags)
                                                                     : UmAccessType::unknown;
}

UnifiedMemoryEvent decode_um(const CUpti_ActivityUnifiedMemoryCounter3& r) {
  UnifiedMemoryEvent e;
  e.kind = um_kind(r.counterKind);
  e.start_ns = r.start;
  e.end_ns = r.end;
  e.value = r.value;
  e.address = r.address;
  e.src_id = r.srcId;
  e.dst_id = r.dstId;
  e.process_id = r.processId;
  e.flags = r.flags;
  for (std::size_t i = 0; i < e.processors.size(); ++i) e.processors[i] = r.processors[i];
  switch (e.kind) {
    case UmEventKind::bytes_htod:
    case UmEventKind::bytes_dtoh:
      e.cause = migration_cause(r.flags);
      break;
    case UmEventKind::cpu_page_fault:
      // The value of a CPU fault record is the faulting instruction's address, not a count.
      e.cpu_fault_pc = r.value;
      e.value = 0;
      e.end_ns = e.start_ns;
      break;
    case UmEventKind::gpu_page_fault_group:
      e.access = access_type(r.flags);
      break;
    case UmEventKind::thrashing:
    case UmEventKind::remote_map:
      // CUPTI documents end as meaningless here; a zero duration beats a garbage one.
      e.end_ns = e.start_ns;
      break;
    default:
      break;
  }
  return e;
}

bool timestamps_ok(std::uint64_t start, std::uint64_t end) {
  return !(start == 0 && end == 0) && end >= start;
}

KernelEvent decode_kernel(const CUpti_ActivityKernel10& r) {
  KernelEvent e;
  if (r.name != nullptr) e.name = r.name;
  e.start_ns = r.start;
  e.end_ns = r.end;
  e.device_id = r.deviceId;
  e.context_id = r.contextId;
  e.stream_id = r.streamId;
  e.correlation_id = r.correlationId;
  e.grid = {r.gridX, r.gridY, r.gridZ};
  e.block = {r.blockX, r.blockY, r.blockZ};
  e.static_shared_bytes = r.staticSharedMemory;
  e.dynamic_shared_bytes = r.dynamicSharedMemory;
  e.registers_per_thread = r.registersPerThread;
  e.graph_id = r.graphId;
  e.timestamps_valid = timestamps_ok(r.start, r.end);
  return e;
}

template <typename Enum>
Enum small_enum(std::uint8_t v, Enum last) {
  return v <= static_cast<std::uint8_t>(last) ? static_cast<Enum>(v) : Enum::unknown;
}

MemcpyEvent decode_memcpy(const CUpti_ActivityMemcpy6& r) {
  MemcpyEvent e;
  e.kind = small_enum(r.copyKind, MemcpyKind::ptop);
  e.src_kind = small_enum(r.srcKind, MemoryKind::managed_static);
  e.dst_kind = small_enum(r.dstKind, MemoryKind::managed_static);
  e.bytes = r.bytes;
  e.start_ns = r.start;
  e.end_ns = r.end;
  e.device_id = r.deviceId;
  e.context_id = r.contextId;
  e.stream_id = r.streamId;
  e.correlation_id = r.correlationId;
  e.copy_count = r.copyCount;
  e.async = (r.flags & CUPTI_ACTIVITY_FLAG_MEMCPY_ASYNC) != 0;
  e.timestamps_valid = timestamps_ok(r.start, r.end);
  return e;
}

// Records are only 8-byte aligned and the structs are packed; copying out keeps the reads defined.
template <typename Record>
Record load(const std::uint8_t* p) {
  Record r;
  std::memcpy(&r, p, sizeof r);
  return r;
}

}  // namespace

void decode_activity_buffer(const std::uint8_t* buffer, std::size_t valid_size, CapturedEvents& out,
                            DecodeStats& stats) {
  if (buffer == nullptr || valid_size == 0) return;
  // CUPTI's walker takes a non-const pointer but only reads the buffer.
  auto* base = const_cast<std::uint8_t*>(buffer);
  CUpti_Activity* record = nullptr;
  std::size_t end_of_last = 0;  // offset just past the last record we could size
  bool last_sized = true;
  std::size_t prev_offset = 0;
  std::size_t prev_size = 0;  // size we expect the previous record to have, 0 if unknown

  for (;;) {
    const CUptiResult status = cuptiActivityGetNextRecord(base, valid_size, &record);
    if (status != CUPTI_SUCCESS) {
      if (!last_sized) {
        // We cannot tell where the last record ended; only CUPTI's verdict is left.
        if (status != CUPTI_ERROR_MAX_LIMIT_REACHED) {
          ++stats.unknown_kinds;
          stats.bytes_undecoded += valid_size - prev_offset;
        }
        return;
      }
      if (end_of_last >= valid_size) return;  // clean end
      // Bytes left that CUPTI would not hand out. valid_size is exact when CUPTI returns a buffer,
      // so either the next record is cut off (a kind we know, too long for what is left) or its
      // kind is one nobody can size.
      const std::size_t left = valid_size - end_of_last;
      std::uint32_t next_kind = 0;
      bool cut = left < sizeof next_kind;
      if (!cut) {
        std::memcpy(&next_kind, buffer + end_of_last, sizeof next_kind);
        const std::size_t next_size = record_size(static_cast<CUpti_ActivityKind>(next_kind));
        cut = next_size != 0 && next_size > left;
      }
      if (cut) {
        ++stats.truncated_buffers;
      } else {
        ++stats.unknown_kinds;
      }
      stats.bytes_undecoded += left;
      return;
    }

    const auto* p = reinterpret_cast<const std::uint8_t*>(record);
    const auto offset = static_cast<std::size_t>(p - buffer);
    if (prev_size != 0 && offset != prev_offset + prev_size && offset > prev_offset)
      ++stats.layout_mismatches;

    const std::size_t size = record_size(record->kind);
    prev_offset = offset;
    prev_size = size;
    last_sized = size != 0;
    end_of_last = offset + size;
    // A record that would run past valid_size is never handed out by CUPTI; guard anyway.
    if (size != 0 && end_of_last > valid_size) {
      ++stats.truncated_buffers;
      stats.bytes_undecoded += valid_size - offset;
      return;
    }

    switch (record->kind) {
      case CUPTI_ACTIVITY_KIND_UNIFIED_MEMORY_COUNTER:
        out.unified_memory.push_back(decode_um(load<CUpti_ActivityUnifiedMemoryCounter3>(p)));
        ++stats.records_decoded;
        break;
      case CUPTI_ACTIVITY_KIND_KERNEL:
      case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
        out.kernels.push_back(decode_kernel(load<CUpti_ActivityKernel10>(p)));
        if (!out.kernels.back().timestamps_valid) ++stats.invalid_timestamps;
        ++stats.records_decoded;
        break;
      case CUPTI_ACTIVITY_KIND_MEMCPY:
        out.memcpys.push_back(decode_memcpy(load<CUpti_ActivityMemcpy6>(p)));
        if (!out.memcpys.back().timestamps_valid) ++stats.invalid_timestamps;
        ++stats.records_decoded;
        break;
      default:
        ++stats.records_skipped;
        break;
    }
  }
}

DecodeResult decode_activity_buffer(const std::uint8_t* buffer, std::size_t valid_size) {
  DecodeResult r;
  decode_activity_buffer(buffer, valid_size, r.events, r.stats);
  return r;
}

}  // namespace optiscope::probes
