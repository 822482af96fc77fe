// CPU tests of the CUPTI layer: the decoder on activity buffers laid out exactly as CUPTI 13 writes
// them (the real structs from cupti_activity.h, 8-byte aligned, back to back), step assignment, and
// the capture's behaviour where there is no GPU. No device is needed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "probes/cupti_capture.h"
#include "probes/cupti_records.h"

#if OPTISCOPE_HAVE_CUPTI
#include <cupti.h>

#include "probes/cupti_decode.h"
#endif

namespace op = optiscope::probes;

namespace {

// ------------------------------------------------------------------ step assignment (always built)

struct Timed {
  std::uint64_t start_ns;
};

TEST(AssignToSteps, HalfOpenIntervalsAndOutsiders) {
  const std::vector<std::uint64_t> boundaries = {100, 200, 300};
  const std::vector<Timed> events = {{50}, {100}, {199}, {200}, {299}, {300}, {1000}};
  const auto steps = op::assign_to_steps(events, boundaries);
  const std::vector<std::int64_t> expected = {op::kNoStep, 0, 0, 1, 1, op::kNoStep, op::kNoStep};
  EXPECT_EQ(steps, expected);
}

TEST(AssignToSteps, NoStepsMeansNoAssignment) {
  const std::vector<Timed> events = {{1}, {2}};
  EXPECT_EQ(op::assign_to_steps(events, std::vector<std::uint64_t>{}),
            (std::vector<std::int64_t>{op::kNoStep, op::kNoStep}));
  EXPECT_EQ(op::assign_to_steps(events, std::vector<std::uint64_t>{1}),
            (std::vector<std::int64_t>{op::kNoStep, op::kNoStep}));
}

TEST(AssignToSteps, WorksOnEveryEventType) {
  const std::vector<std::uint64_t> boundaries = {10, 20};
  op::CapturedEvents ev;
  ev.unified_memory.push_back({.kind = op::UmEventKind::bytes_htod, .start_ns = 15});
  ev.kernels.push_back({.name = "k", .start_ns = 25});
  ev.memcpys.push_back({.kind = op::MemcpyKind::htod, .start_ns = 10});
  EXPECT_EQ(op::assign_to_steps(ev.unified_memory, boundaries), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(op::assign_to_steps(ev.kernels, boundaries), (std::vector<std::int64_t>{op::kNoStep}));
  EXPECT_EQ(op::assign_to_steps(ev.memcpys, boundaries), (std::vector<std::int64_t>{0}));
}

TEST(SummarizeTransfers, CountsCpuFaultRecordsNeverTheirValues) {
  std::vector<op::UnifiedMemoryEvent> ev(3);
  ev[0].kind = op::UmEventKind::cpu_page_fault;
  ev[0].cpu_fault_pc = 0x7f0012345678;
  ev[1].kind = op::UmEventKind::cpu_page_fault;
  ev[1].cpu_fault_pc = 0x7f0012345690;
  ev[2].kind = op::UmEventKind::bytes_dtoh;
  ev[2].value = 65536;
  ev[2].cause = op::UmMigrationCause::coherence;
  const auto t = op::summarize_transfers(ev);
  EXPECT_EQ(t.cpu_faults, 2u);
  EXPECT_EQ(t.dtoh, 65536u);
  EXPECT_EQ(t.dtoh_by_cause[static_cast<int>(op::UmMigrationCause::coherence)], 65536u);
  EXPECT_EQ(t.htod, 0u);
}

TEST(SummarizeTransfers, AddressRangeSelectsTheAllocation) {
  std::vector<op::UnifiedMemoryEvent> ev(2);
  ev[0].kind = op::UmEventKind::bytes_htod;
  ev[0].value = 4096;
  ev[0].address = 0x1000;
  ev[1].kind = op::UmEventKind::bytes_htod;
  ev[1].value = 8192;
  ev[1].address = 0x9000;
  EXPECT_EQ(op::summarize_transfers(ev, 0x1000, 0x2000).htod, 4096u);
  EXPECT_EQ(op::summarize_transfers(ev).htod, 12288u);
}

// ------------------------------------------------------------------ capture without a GPU

TEST(CuptiCaptureNoGpu, EveryCallIsSafeAndFailuresBecomeNotes) {
  const op::CaptureCapability probed = op::CuptiCapture::probe();
  if (probed.kernels || probed.um_counters)
    GTEST_SKIP() << "a usable GPU is present; see optiscope_gpu_cupti_tests";
  EXPECT_FALSE(probed.note.empty());
  std::printf("probe note: %s\n", probed.note.c_str());

  op::CuptiCapture capture;
  capture.flush();  // before start: nothing to do, nothing thrown
  const op::CaptureCapability started = capture.start();
  EXPECT_FALSE(started.um_counters);
  EXPECT_FALSE(started.kernels);
  EXPECT_FALSE(started.memcpy);
  EXPECT_FALSE(started.note.empty());
  EXPECT_FALSE(capture.running());
  capture.flush();
  EXPECT_TRUE(capture.take_events().empty());
  capture.stop();
  capture.stop();
  std::printf("start note: %s\n", started.note.c_str());
#if OPTISCOPE_HAVE_CUPTI
  EXPECT_NE(started.note.find("no CUDA device"), std::string::npos) << started.note;
#else
  EXPECT_EQ(started.note, "built without CUPTI");
#endif
}

TEST(CuptiCaptureNoGpu, ClockConversionMatchesSteadyClock) {
  op::CuptiCapture capture;
  const auto steady = [] {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  };
  const std::uint64_t before = steady();
  const std::uint64_t converted = capture.to_steady_ns(op::CuptiCapture::now_ns());
  const std::uint64_t after = steady();
  // The offset is measured to within a few microseconds; allow for a slow, shared CI machine.
  constexpr std::uint64_t kSlack = 5'000'000;
  EXPECT_GE(converted + kSlack, before);
  EXPECT_LE(converted, after + kSlack);
  const std::uint64_t a = op::CuptiCapture::now_ns();
  const std::uint64_t b = op::CuptiCapture::now_ns();
  EXPECT_LE(a, b);
}

#if OPTISCOPE_HAVE_CUPTI

// ------------------------------------------------------------------ decoder on real record layouts

// An activity buffer as CUPTI fills one: records back to back, each starting 8-byte aligned.
class ActivityBuffer {
 public:
  template <typename Record>
  std::size_t add(const Record& r) {
    const std::size_t offset = size_;
    grow(sizeof r);
    std::memcpy(data() + offset, &r, sizeof r);
    return offset;
  }
  void add_raw_kind(std::uint32_t kind, std::size_t record_bytes) {
    const std::size_t offset = size_;
    grow(record_bytes);
    std::memcpy(data() + offset, &kind, sizeof kind);
  }
  const std::uint8_t* data() const { return reinterpret_cast<const std::uint8_t*>(words_.data()); }
  std::uint8_t* data() { return reinterpret_cast<std::uint8_t*>(words_.data()); }
  std::size_t size() const { return size_; }

 private:
  void grow(std::size_t bytes) {
    size_ += (bytes + 7) / 8 * 8;
    words_.resize(size_ / 8, 0);
  }
  std::vector<std::uint64_t> words_;  // uint64_t storage gives the 8-byte alignment CUPTI uses
  std::size_t size_ = 0;
};

CUpti_ActivityUnifiedMemoryCounter3 um(CUpti_ActivityUnifiedMemoryCounterKind kind, std::uint64_t value,
                                       std::uint64_t start, std::uint64_t end, std::uint32_t flags) {
  CUpti_ActivityUnifiedMemoryCounter3 r{};
  r.kind = CUPTI_ACTIVITY_KIND_UNIFIED_MEMORY_COUNTER;
  r.counterKind = kind;
  r.value = value;
  r.start = start;
  r.end = end;
  r.flags = flags;
  r.processId = 4242;
  return r;
}

CUpti_ActivityKernel10 kernel(CUpti_ActivityKind kind, const char* name, std::uint64_t start,
                              std::uint64_t end) {
  CUpti_ActivityKernel10 r{};
  r.kind = kind;
  r.name = name;
  r.start = start;
  r.end = end;
  r.deviceId = 0;
  r.contextId = 1;
  r.streamId = 7;
  r.correlationId = 99;
  r.gridX = 128;
  r.gridY = 2;
  r.gridZ = 1;
  r.blockX = 256;
  r.blockY = 1;
  r.blockZ = 1;
  r.registersPerThread = 32;
  r.staticSharedMemory = 1024;
  r.dynamicSharedMemory = 2048;
  return r;
}

CUpti_ActivityMemcpy6 memcpy_record(CUpti_ActivityMemcpyKind kind, std::uint64_t bytes, std::uint64_t start,
                                    std::uint64_t end) {
  CUpti_ActivityMemcpy6 r{};
  r.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
  r.copyKind = static_cast<std::uint8_t>(kind);
  r.srcKind = CUPTI_ACTIVITY_MEMORY_KIND_PINNED;
  r.dstKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
  r.flags = CUPTI_ACTIVITY_FLAG_MEMCPY_ASYNC;
  r.bytes = bytes;
  r.start = start;
  r.end = end;
  r.streamId = 13;
  r.correlationId = 5;
  r.copyCount = 1;
  return r;
}

TEST(CuptiDecode, UnifiedMemoryCounterKindsAndCauses) {
  ActivityBuffer b;
  auto htod = um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 2 << 20, 1000, 2000,
                 CUPTI_ACTIVITY_UNIFIED_MEMORY_MIGRATION_CAUSE_USER);
  htod.address = 0x7f0000000000;
  htod.srcId = CUPTI_UNIFIED_MEMORY_CPU_DEVICE_ID;
  htod.dstId = 0;
  b.add(htod);
  auto dtoh = um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOH, 65536, 3000, 3500,
                 CUPTI_ACTIVITY_UNIFIED_MEMORY_MIGRATION_CAUSE_EVICTION);
  dtoh.srcId = 0;
  dtoh.dstId = CUPTI_UNIFIED_MEMORY_CPU_DEVICE_ID;
  b.add(dtoh);
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOH, 4096, 3600, 3700,
           CUPTI_ACTIVITY_UNIFIED_MEMORY_MIGRATION_CAUSE_COHERENCE));
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 1 << 20, 3800, 3900,
           CUPTI_ACTIVITY_UNIFIED_MEMORY_MIGRATION_CAUSE_PREFETCH));
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 8192, 3950, 3990,
           CUPTI_ACTIVITY_UNIFIED_MEMORY_MIGRATION_CAUSE_ACCESS_COUNTERS));
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_GPU_PAGE_FAULT, 3, 4000, 4100,
           CUPTI_ACTIVITY_UNIFIED_MEMORY_ACCESS_TYPE_WRITE));
  auto thrash = um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_THRASHING, 1 << 21, 5000, 123, 0);
  thrash.processors[0] = 0b101;
  b.add(thrash);
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_THROTTLING, 0, 6000, 6500,
           CUPTI_ACTIVITY_FLAG_THROTTLING_IN_CPU));
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_REMOTE_MAP, 4096, 7000, 0,
           CUPTI_ACTIVITY_UNIFIED_MEMORY_REMOTE_MAP_CAUSE_THRASHING));
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOD, 1 << 16, 8000, 8100, 0));
  b.add(um(static_cast<CUpti_ActivityUnifiedMemoryCounterKind>(0), 77, 9000, 9100, 99));

  const op::DecodeResult r = op::decode_activity_buffer(b.data(), b.size());
  EXPECT_EQ(r.stats.records_decoded, 11u);
  EXPECT_EQ(r.stats.records_skipped, 0u);
  EXPECT_EQ(r.stats.unknown_kinds, 0u);
  EXPECT_EQ(r.stats.truncated_buffers, 0u);
  EXPECT_EQ(r.stats.layout_mismatches, 0u);
  ASSERT_EQ(r.events.unified_memory.size(), 11u);
  const auto& e = r.events.unified_memory;

  EXPECT_EQ(e[0].kind, op::UmEventKind::bytes_htod);
  EXPECT_EQ(e[0].value, 2u << 20);
  EXPECT_EQ(e[0].bytes(), 2u << 20);
  EXPECT_EQ(e[0].start_ns, 1000u);
  EXPECT_EQ(e[0].end_ns, 2000u);
  EXPECT_EQ(e[0].address, 0x7f0000000000u);
  EXPECT_EQ(e[0].src_id, op::kUmCpuProcessorId);
  EXPECT_EQ(e[0].dst_id, 0u);
  EXPECT_EQ(e[0].process_id, 4242u);
  EXPECT_EQ(e[0].cause, op::UmMigrationCause::user);

  EXPECT_EQ(e[1].kind, op::UmEventKind::bytes_dtoh);
  EXPECT_EQ(e[1].cause, op::UmMigrationCause::eviction);
  EXPECT_EQ(e[1].dst_id, op::kUmCpuProcessorId);
  EXPECT_EQ(e[2].cause, op::UmMigrationCause::coherence);
  EXPECT_EQ(e[3].cause, op::UmMigrationCause::prefetch);
  EXPECT_EQ(e[4].cause, op::UmMigrationCause::access_counters);

  EXPECT_EQ(e[5].kind, op::UmEventKind::gpu_page_fault_group);
  EXPECT_EQ(e[5].value, 3u);  // fault groups, a count
  EXPECT_EQ(e[5].bytes(), 0u);
  EXPECT_EQ(e[5].access, op::UmAccessType::write);
  EXPECT_EQ(e[5].cause, op::UmMigrationCause::unknown);

  EXPECT_EQ(e[6].kind, op::UmEventKind::thrashing);
  EXPECT_EQ(e[6].processors[0], 0b101u);
  EXPECT_EQ(e[6].end_ns, e[6].start_ns);  // CUPTI's end is undefined for thrashing
  EXPECT_EQ(e[7].kind, op::UmEventKind::throttling);
  EXPECT_EQ(e[7].end_ns, 6500u);
  EXPECT_EQ(e[7].flags, static_cast<std::uint32_t>(CUPTI_ACTIVITY_FLAG_THROTTLING_IN_CPU));
  EXPECT_EQ(e[8].kind, op::UmEventKind::remote_map);
  EXPECT_EQ(e[8].flags, static_cast<std::uint32_t>(CUPTI_ACTIVITY_UNIFIED_MEMORY_REMOTE_MAP_CAUSE_THRASHING));
  EXPECT_EQ(e[9].kind, op::UmEventKind::bytes_dtod);
  EXPECT_EQ(e[9].bytes(), 1u << 16);
  EXPECT_EQ(e[10].kind, op::UmEventKind::unknown);
  EXPECT_EQ(e[10].cause, op::UmMigrationCause::unknown);

  const auto totals = op::summarize_transfers(e);
  EXPECT_EQ(totals.htod, (2u << 20) + (1u << 20) + 8192u);
  EXPECT_EQ(totals.dtoh, 65536u + 4096u);
  EXPECT_EQ(totals.dtod, 1u << 16);
  EXPECT_EQ(totals.htod_by_cause[static_cast<int>(op::UmMigrationCause::user)], 2u << 20);
  EXPECT_EQ(totals.gpu_fault_groups, 3u);
}

TEST(CuptiDecode, CpuPageFaultValueIsAProgramCounterNotACount) {
  ActivityBuffer b;
  constexpr std::uint64_t kPc = 0x55d1c0ffee10;
  auto fault = um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_CPU_PAGE_FAULT_COUNT, kPc, 1234, 0xdeadbeef, 0);
  fault.address = 0x7f1000000000;
  b.add(fault);
  b.add(fault);

  const op::DecodeResult r = op::decode_activity_buffer(b.data(), b.size());
  ASSERT_EQ(r.events.unified_memory.size(), 2u);
  const op::UnifiedMemoryEvent& e = r.events.unified_memory[0];
  EXPECT_EQ(e.kind, op::UmEventKind::cpu_page_fault);
  EXPECT_EQ(e.cpu_fault_pc, kPc);
  EXPECT_EQ(e.value, 0u);
  EXPECT_EQ(e.bytes(), 0u);
  EXPECT_EQ(e.address, 0x7f1000000000u);
  EXPECT_EQ(e.end_ns, e.start_ns);  // CUPTI's end is meaningless for CPU faults
  const auto totals = op::summarize_transfers(r.events.unified_memory);
  EXPECT_EQ(totals.cpu_faults, 2u);
  EXPECT_EQ(totals.htod + totals.dtoh + totals.gpu_fault_groups, 0u);
}

TEST(CuptiDecode, KernelsConcurrentAndSerial) {
  static const char kName[] = "_Z12adamw_kernelPfS_S_i";
  ActivityBuffer b;
  b.add(kernel(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, kName, 100, 250));
  b.add(kernel(CUPTI_ACTIVITY_KIND_KERNEL, nullptr, 300, 400));
  b.add(kernel(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, kName, 0, 0));  // no device timestamp buffer left

  const op::DecodeResult r = op::decode_activity_buffer(b.data(), b.size());
  EXPECT_EQ(r.stats.records_decoded, 3u);
  EXPECT_EQ(r.stats.invalid_timestamps, 1u);
  ASSERT_EQ(r.events.kernels.size(), 3u);
  const op::KernelEvent& k = r.events.kernels[0];
  EXPECT_EQ(k.name, kName);
  EXPECT_EQ(k.start_ns, 100u);
  EXPECT_EQ(k.end_ns, 250u);
  EXPECT_EQ(k.stream_id, 7u);
  EXPECT_EQ(k.context_id, 1u);
  EXPECT_EQ(k.correlation_id, 99u);
  EXPECT_EQ(k.grid, (std::array<std::int32_t, 3>{128, 2, 1}));
  EXPECT_EQ(k.block, (std::array<std::int32_t, 3>{256, 1, 1}));
  EXPECT_EQ(k.registers_per_thread, 32);
  EXPECT_EQ(k.static_shared_bytes, 1024);
  EXPECT_EQ(k.dynamic_shared_bytes, 2048);
  EXPECT_TRUE(k.timestamps_valid);
  EXPECT_EQ(r.events.kernels[1].name, "");
  EXPECT_FALSE(r.events.kernels[2].timestamps_valid);
}

TEST(CuptiDecode, Memcpys) {
  ActivityBuffer b;
  b.add(memcpy_record(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, 1 << 20, 10, 30));
  auto dtoh = memcpy_record(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH, 4096, 40, 45);
  dtoh.srcKind = CUPTI_ACTIVITY_MEMORY_KIND_MANAGED;
  dtoh.dstKind = CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE;
  dtoh.flags = 0;
  b.add(dtoh);
  auto odd = memcpy_record(CUPTI_ACTIVITY_MEMCPY_KIND_DTOD, 8, 50, 40);  // end before start
  odd.copyKind = 200;
  b.add(odd);

  const op::DecodeResult r = op::decode_activity_buffer(b.data(), b.size());
  ASSERT_EQ(r.events.memcpys.size(), 3u);
  const auto& m = r.events.memcpys;
  EXPECT_EQ(m[0].kind, op::MemcpyKind::htod);
  EXPECT_EQ(m[0].bytes, 1u << 20);
  EXPECT_EQ(m[0].src_kind, op::MemoryKind::pinned);
  EXPECT_EQ(m[0].dst_kind, op::MemoryKind::device);
  EXPECT_EQ(m[0].stream_id, 13u);
  EXPECT_EQ(m[0].correlation_id, 5u);
  EXPECT_TRUE(m[0].async);
  EXPECT_EQ(m[0].copy_count, 1u);
  EXPECT_EQ(m[1].kind, op::MemcpyKind::dtoh);
  EXPECT_EQ(m[1].src_kind, op::MemoryKind::managed);
  EXPECT_EQ(m[1].dst_kind, op::MemoryKind::pageable);
  EXPECT_FALSE(m[1].async);
  EXPECT_EQ(m[2].kind, op::MemcpyKind::unknown);
  EXPECT_FALSE(m[2].timestamps_valid);
  EXPECT_EQ(r.stats.invalid_timestamps, 1u);
}

TEST(CuptiDecode, MixedBufferKeepsOrderAndSkipsKindsItDoesNotDecode) {
  ActivityBuffer b;
  b.add(memcpy_record(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, 512, 1, 2));
  CUpti_ActivityOverhead3 overhead{};
  overhead.kind = CUPTI_ACTIVITY_KIND_OVERHEAD;
  overhead.start = 3;
  overhead.end = 4;
  b.add(overhead);
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 4096, 5, 6, 1));
  CUpti_ActivityMemset4 memset_rec{};
  memset_rec.kind = CUPTI_ACTIVITY_KIND_MEMSET;
  memset_rec.bytes = 64;
  b.add(memset_rec);
  b.add(kernel(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, "k", 7, 8));
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOH, 4096, 9, 10, 4));

  const op::DecodeResult r = op::decode_activity_buffer(b.data(), b.size());
  EXPECT_EQ(r.stats.records_decoded, 4u);
  EXPECT_EQ(r.stats.records_skipped, 2u);
  EXPECT_EQ(r.stats.unknown_kinds, 0u);
  EXPECT_EQ(r.stats.truncated_buffers, 0u);
  EXPECT_EQ(r.stats.bytes_undecoded, 0u);
  EXPECT_EQ(r.stats.layout_mismatches, 0u);
  ASSERT_EQ(r.events.unified_memory.size(), 2u);
  EXPECT_EQ(r.events.unified_memory[0].kind, op::UmEventKind::bytes_htod);
  EXPECT_EQ(r.events.unified_memory[1].kind, op::UmEventKind::bytes_dtoh);
  ASSERT_EQ(r.events.kernels.size(), 1u);
  ASSERT_EQ(r.events.memcpys.size(), 1u);
}

TEST(CuptiDecode, UnknownKindStopsTheWalkAndIsCounted) {
  ActivityBuffer b;
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 4096, 1, 2, 1));
  const std::size_t decoded_bytes = b.size();
  b.add_raw_kind(9999, 64);  // a kind from a future CUPTI: its size is unknown
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 4096, 3, 4, 1));

  const op::DecodeResult r = op::decode_activity_buffer(b.data(), b.size());
  EXPECT_EQ(r.events.unified_memory.size(), 1u);
  EXPECT_EQ(r.stats.unknown_kinds, 1u);
  EXPECT_EQ(r.stats.bytes_undecoded, b.size() - decoded_bytes);
  EXPECT_EQ(r.stats.truncated_buffers, 0u);
}

TEST(CuptiDecode, ZeroedTailAndUnknownFirstRecord) {
  ActivityBuffer zeros;
  zeros.add_raw_kind(0, 128);  // CUPTI_ACTIVITY_KIND_INVALID, as in an unused zeroed buffer
  op::DecodeResult r = op::decode_activity_buffer(zeros.data(), zeros.size());
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.stats.unknown_kinds, 1u);
  EXPECT_EQ(r.stats.bytes_undecoded, 128u);

  ActivityBuffer junk;
  for (std::uint32_t kind : {0x7fffffffu, 0xffffffffu, 1000u}) {
    junk = {};
    junk.add_raw_kind(kind, 256);
    r = op::decode_activity_buffer(junk.data(), junk.size());
    EXPECT_TRUE(r.events.empty()) << kind;
    EXPECT_EQ(r.stats.unknown_kinds, 1u) << kind;
  }
}

TEST(CuptiDecode, TruncatedBufferIsDetected) {
  ActivityBuffer b;
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 4096, 1, 2, 1));
  const std::size_t first = b.size();
  b.add(kernel(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, "k", 3, 4));

  for (const std::size_t cut : {std::size_t{8}, std::size_t{100}, sizeof(CUpti_ActivityKernel10) - 8}) {
    const op::DecodeResult r = op::decode_activity_buffer(b.data(), first + cut);
    EXPECT_EQ(r.events.unified_memory.size(), 1u) << cut;
    EXPECT_TRUE(r.events.kernels.empty()) << cut;
    EXPECT_EQ(r.stats.truncated_buffers, 1u) << cut;
    EXPECT_EQ(r.stats.bytes_undecoded, cut) << cut;
  }
  // A size that is not even a multiple of the record alignment.
  const op::DecodeResult odd = op::decode_activity_buffer(b.data(), first + 4);
  EXPECT_EQ(odd.stats.truncated_buffers, 1u);
  EXPECT_EQ(odd.events.unified_memory.size(), 1u);
  // Cut inside the very first record.
  const op::DecodeResult none = op::decode_activity_buffer(b.data(), 40);
  EXPECT_TRUE(none.events.empty());
  EXPECT_EQ(none.stats.truncated_buffers, 1u);
  EXPECT_EQ(none.stats.unknown_kinds, 0u);
  EXPECT_EQ(none.stats.bytes_undecoded, 40u);
  // The whole buffer is fine.
  const op::DecodeResult whole = op::decode_activity_buffer(b.data(), b.size());
  EXPECT_EQ(whole.stats.truncated_buffers, 0u);
  EXPECT_EQ(whole.events.kernels.size(), 1u);
}

TEST(CuptiDecode, EmptyAndNullBuffers) {
  EXPECT_TRUE(op::decode_activity_buffer(nullptr, 100).events.empty());
  ActivityBuffer b;
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 4096, 1, 2, 1));
  const op::DecodeResult r = op::decode_activity_buffer(b.data(), 0);
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.stats.records_decoded + r.stats.truncated_buffers + r.stats.unknown_kinds, 0u);
}

TEST(CuptiDecode, AppendingOverloadAccumulates) {
  ActivityBuffer b;
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 4096, 1, 2, 1));
  op::CapturedEvents out;
  op::DecodeStats stats;
  op::decode_activity_buffer(b.data(), b.size(), out, stats);
  op::decode_activity_buffer(b.data(), b.size(), out, stats);
  EXPECT_EQ(out.unified_memory.size(), 2u);
  EXPECT_EQ(stats.records_decoded, 2u);
}

TEST(CuptiDecode, StepsFromDecodedRecords) {
  ActivityBuffer b;
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 4096, 150, 160, 1));
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOH, 4096, 250, 260, 4));
  // Delivered late (after the step ended) but stamped inside step 0: timestamps decide.
  b.add(um(CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 4096, 199, 205, 2));
  const op::DecodeResult r = op::decode_activity_buffer(b.data(), b.size());
  const std::vector<std::uint64_t> boundaries = {100, 200, 300};
  EXPECT_EQ(op::assign_to_steps(r.events.unified_memory, boundaries), (std::vector<std::int64_t>{0, 1, 0}));
}

#endif  // OPTISCOPE_HAVE_CUPTI

}  // namespace
