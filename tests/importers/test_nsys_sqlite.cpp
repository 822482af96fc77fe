#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "importer_test_util.h"
#include "importers/nsys_sqlite.h"
#include "probes/cupti_records.h"
#include "store/store.h"

using optiscope::Outcome;
using optiscope::Store;
using optiscope::importers::ImportError;
using optiscope::importers::NsysImportOptions;
using optiscope::probes::UmEventKind;
using optiscope::probes::UmMigrationCause;
namespace imp = optiscope::importers;

namespace {

// The tables as the Nsight Systems user guide's SQLite schema reference declares them (the columns
// the importer reads, and the others beside them, so the test file looks like a real export).
constexpr const char* kNsysSchema = R"sql(
CREATE TABLE StringIds (id INTEGER NOT NULL PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE TARGET_INFO_GPU (vmId INTEGER NOT NULL, id INTEGER NOT NULL, name TEXT, totalMemory INTEGER);
CREATE TABLE ENUM_CUDA_MEMCPY_OPER (id INTEGER NOT NULL PRIMARY KEY, name TEXT, label TEXT);
CREATE TABLE ENUM_CUDA_UNIF_MEM_MIGRATION (id INTEGER NOT NULL PRIMARY KEY, name TEXT, label TEXT);
CREATE TABLE CUDA_UM_CPU_PAGE_FAULT_EVENTS (
  start INTEGER NOT NULL, globalPid INTEGER NOT NULL, address INTEGER NOT NULL, originalFaultPc INTEGER,
  CpuInstruction INTEGER NOT NULL, module INTEGER NOT NULL, unresolvedFaultPc INTEGER);
CREATE TABLE CUDA_UM_GPU_PAGE_FAULT_EVENTS (
  start INTEGER NOT NULL, end INTEGER NOT NULL, globalPid INTEGER NOT NULL, deviceId INTEGER NOT NULL,
  address INTEGER NOT NULL, numberOfPageFaults INTEGER NOT NULL, faultAccessType INTEGER NOT NULL);
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (
  start INTEGER NOT NULL, end INTEGER NOT NULL, deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL,
  streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER, bytes INTEGER NOT NULL,
  copyKind INTEGER NOT NULL, deprecatedSrcId INTEGER, srcKind INTEGER, dstKind INTEGER, srcDeviceId INTEGER,
  srcContextId INTEGER, dstDeviceId INTEGER, dstContextId INTEGER, migrationCause INTEGER, graphNodeId INTEGER,
  virtualAddress INTEGER);
INSERT INTO TARGET_INFO_GPU VALUES (0, 0, 'NVIDIA H100 80GB HBM3', 85520809984);
INSERT INTO ENUM_CUDA_MEMCPY_OPER VALUES
  (1, 'CUDA_MEMCPY_KIND_HTOD', 'Host-to-Device'), (2, 'CUDA_MEMCPY_KIND_DTOH', 'Device-to-Host'),
  (8, 'CUDA_MEMCPY_KIND_DTOD', 'Device-to-Device'),
  (11, 'CUDA_MEMCPY_KIND_UNIFIED_HTOD', 'Unified Host-to-Device'),
  (12, 'CUDA_MEMCPY_KIND_UNIFIED_DTOH', 'Unified Device-to-Host'),
  (13, 'CUDA_MEMCPY_KIND_UNIFIED_DTOD', 'Unified Device-to-Device');
INSERT INTO ENUM_CUDA_UNIF_MEM_MIGRATION VALUES (0, 'UNKNOWN', 'Unknown'), (1, 'USER', 'User prefetch'),
  (2, 'COHERENCE', 'Page fault'), (3, 'PREFETCH', 'Speculative prefetch'), (4, 'EVICTION', 'Eviction'),
  (5, 'ACCESS_COUNTERS', 'Access counters');
-- Two CPU faults (the pc is not a count), two GPU fault records (3 and 5 faults).
INSERT INTO CUDA_UM_CPU_PAGE_FAULT_EVENTS VALUES (5000, 1, 140000000000000, 4198400, 0, 0, 0);
INSERT INTO CUDA_UM_CPU_PAGE_FAULT_EVENTS VALUES (1000, 1, 140000000004096, 4198400, 0, 0, 0);
INSERT INTO CUDA_UM_GPU_PAGE_FAULT_EVENTS VALUES (2000, 2500, 1, 0, 140000000000000, 3, 1);
INSERT INTO CUDA_UM_GPU_PAGE_FAULT_EVENTS VALUES (7000, 7400, 1, 0, 140000002097152, 5, 2);
-- Migrations: a fault-driven 2 MiB to the device, an eviction of 2 MiB, a user prefetch of 1 MiB
-- device to device, and an explicit cudaMemcpy that is not paging.
INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (3000, 3100, 0, 1, 7, 10, 1, 2097152, 11, NULL, 1, 5, 0, 1, 0, 1, 2, NULL, 140000000000000);
INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (6000, 6300, 0, 1, 7, 11, 1, 2097152, 12, NULL, 5, 1, 0, 1, 0, 1, 4, NULL, 140000002097152);
INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (8000, 8100, 0, 1, 7, 12, 1, 1048576, 13, NULL, 5, 5, 0, 1, 0, 1, 1, NULL, 140000004194304);
INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (4000, 4500, 0, 1, 7, 13, 1, 4096, 1, NULL, 2, 3, 0, 1, 0, 1, NULL, NULL, NULL);
)sql";

void make_db(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

class NsysTest : public optiscope::test::TempDirTest {
 protected:
  std::string export_path() {
    const auto p = path("report1.sqlite");
    if (!std::filesystem::exists(p)) make_db(p, kNsysSchema);
    return p;
  }
  // The importer's error for an export built from `sql`, or "" when it was accepted.
  std::string error_for(const std::string& sql) {
    const auto p = path("bad.sqlite");
    std::filesystem::remove(p);
    make_db(p, sql);
    try {
      imp::read_nsys_sqlite(p);
    } catch (const ImportError& e) {
      return e.what();
    }
    return "";
  }
};

}  // namespace

TEST_F(NsysTest, UnifiedMemoryTablesBecomePagingEventsOfANewRun) {
  const auto data = imp::read_nsys_sqlite(export_path());
  EXPECT_EQ(data.cpu_faults, 2);
  EXPECT_EQ(data.gpu_fault_records, 2);
  EXPECT_EQ(data.gpu_faults, 8);
  EXPECT_EQ(data.transfers, 3);
  EXPECT_EQ(data.htod_bytes, 2097152);
  EXPECT_EQ(data.dtoh_bytes, 2097152);
  EXPECT_EQ(data.dtod_bytes, 1048576);
  EXPECT_EQ(data.other_copies, 1);
  EXPECT_EQ(data.gpu_name, "NVIDIA H100 80GB HBM3");

  Store store = Store::open(path("s.db"), Store::Mode::read_write);
  NsysImportOptions options;
  options.optim = "paged_adamw_8bit";
  const auto result = imp::write_nsys_events(store, data, options);
  ASSERT_TRUE(result.created_run);
  const auto run = store.run(result.run_id);
  EXPECT_EQ(run.optim, "paged_adamw_8bit");
  EXPECT_EQ(run.device, "imported");
  EXPECT_EQ(run.outcome, Outcome::completed);
  EXPECT_EQ(store.comparisons().at(0).name,
            "Nsight Systems: " + dir_.filename().string() + "/report1.sqlite");
  const auto capture = store.capture(result.run_id);
  ASSERT_TRUE(capture.has_value());
  EXPECT_TRUE(capture->um_counters);
  EXPECT_NE(capture->note.find("Nsight Systems export"), std::string::npos);

  const auto events = store.um_events(result.run_id);
  ASSERT_EQ(events.size(), 7u);
  const auto kind = [](UmEventKind k) { return static_cast<int>(k); };
  const auto cause = [](UmMigrationCause c) { return static_cast<int>(c); };
  // By start time: cpu fault 1000, gpu fault 2000, htod 3000, cpu fault 5000, dtoh 6000, gpu 7000, dtod 8000.
  EXPECT_EQ(events[0].kind, kind(UmEventKind::cpu_page_fault));
  EXPECT_EQ(events[0].start_ns, 1000);
  EXPECT_EQ(events[0].end_ns, 1000);
  EXPECT_EQ(events[0].value, 0);  // never the program counter
  EXPECT_EQ(events[0].address, 140000000004096);
  EXPECT_EQ(events[1].kind, kind(UmEventKind::gpu_page_fault_group));
  EXPECT_EQ(events[1].value, 3);
  EXPECT_EQ(events[1].end_ns, 2500);
  EXPECT_EQ(events[2].kind, kind(UmEventKind::bytes_htod));
  EXPECT_EQ(events[2].cause, cause(UmMigrationCause::coherence));
  EXPECT_EQ(events[2].value, 2097152);
  EXPECT_EQ(events[2].address, 140000000000000);
  EXPECT_EQ(events[4].kind, kind(UmEventKind::bytes_dtoh));
  EXPECT_EQ(events[4].cause, cause(UmMigrationCause::eviction));
  EXPECT_EQ(events[6].kind, kind(UmEventKind::bytes_dtod));
  EXPECT_EQ(events[6].cause, cause(UmMigrationCause::user));
  for (const auto& e : events) EXPECT_EQ(e.step, -1);
}

TEST_F(NsysTest, EventsJoinAnExistingRunOnce) {
  Store store = Store::open(path("s.db"), Store::Mode::read_write);
  const auto cid = store.add_comparison("gpu server", "{}");
  const auto run_id = store.begin_run(cid, 0, "paged_adamw_32bit", "{}", "NVIDIA H100 80GB HBM3");
  store.append_step(run_id, {1, 2.0, 1e-5, 100.0, 2048, 1 << 20});
  store.set_capture(run_id, {false, false, false, "another CUPTI client is attached: Nsight Systems", 0});

  const auto data = imp::read_nsys_sqlite(export_path());
  NsysImportOptions options;
  options.run_id = run_id;
  const auto result = imp::write_nsys_events(store, data, options);
  EXPECT_FALSE(result.created_run);
  EXPECT_EQ(result.run_id, run_id);
  EXPECT_EQ(store.um_event_count(run_id), 7);
  EXPECT_EQ(store.comparisons().size(), 1u);
  const auto capture = store.capture(run_id);
  ASSERT_TRUE(capture.has_value());
  EXPECT_TRUE(capture->um_counters);
  EXPECT_NE(capture->note.find("another CUPTI client"), std::string::npos);
  EXPECT_NE(capture->note.find("imported from the Nsight Systems export"), std::string::npos);

  // A second import into the same run is refused and adds nothing.
  EXPECT_THROW(imp::write_nsys_events(store, data, options), ImportError);
  EXPECT_EQ(store.um_event_count(run_id), 7);
  options.run_id = 999;
  EXPECT_THROW(imp::write_nsys_events(store, data, options), ImportError);
  EXPECT_EQ(store.runs().size(), 1u);
}

TEST_F(NsysTest, TheExportIsOnlyRead) {
  const auto p = export_path();
  const auto before = optiscope::test::slurp(p);
  const auto time_before = std::filesystem::last_write_time(p);
  imp::read_nsys_sqlite(p);
  EXPECT_EQ(optiscope::test::slurp(p), before);
  EXPECT_EQ(std::filesystem::last_write_time(p), time_before);
  for (const char* suffix : {"-journal", "-wal", "-shm"})
    EXPECT_FALSE(std::filesystem::exists(p + suffix)) << suffix;
}

TEST_F(NsysTest, OlderExportsWithoutCauseOrAddressStillImport) {
  const std::string sql = R"sql(
    CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER NOT NULL, end INTEGER NOT NULL,
      bytes INTEGER NOT NULL, copyKind INTEGER NOT NULL);
    INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (10, 20, 65536, 11), (30, 25, 4096, 12);)sql";
  ASSERT_EQ(error_for(sql), "");
  const auto data = imp::read_nsys_sqlite(path("bad.sqlite"));
  ASSERT_EQ(data.events.size(), 2u);
  EXPECT_EQ(data.events[0].cause, static_cast<int>(UmMigrationCause::unknown));
  EXPECT_EQ(data.events[0].address, 0);
  EXPECT_EQ(data.events[1].end_ns, 30);  // ended before it started: clamped, counted
  EXPECT_EQ(data.reordered_timestamps, 1);
}

TEST_F(NsysTest, WrongFilesAreRefusedWithAMessage) {
  write("notes.txt", "this is not a database\n");
  EXPECT_THROW(imp::read_nsys_sqlite(path("notes.txt")), ImportError);
  EXPECT_THROW(imp::read_nsys_sqlite(path("absent.sqlite")), ImportError);
  try {
    imp::read_nsys_sqlite(path("notes.txt"));
  } catch (const ImportError& e) {
    EXPECT_NE(std::string(e.what()).find("not a SQLite file"), std::string::npos) << e.what();
  }
  // An Optiscope store is not an Nsight export.
  { Store s = Store::open(path("store.db"), Store::Mode::read_write); }
  try {
    imp::read_nsys_sqlite(path("store.db"));
    FAIL();
  } catch (const ImportError& e) {
    EXPECT_NE(std::string(e.what()).find("is an Optiscope store"), std::string::npos) << e.what();
  }
}

TEST_F(NsysTest, WrongTablesColumnsAndValuesAreRefused) {
  EXPECT_NE(error_for("CREATE TABLE NVTX_EVENTS (start INTEGER, end INTEGER, text TEXT);")
                .find("has none of the tables"),
            std::string::npos);
  EXPECT_NE(
      error_for("CREATE TABLE CUDA_UM_GPU_PAGE_FAULT_EVENTS (start INTEGER, end INTEGER, address INTEGER);")
          .find("has no column 'numberOfPageFaults'"),
      std::string::npos);
  EXPECT_NE(error_for("CREATE TABLE CUDA_UM_CPU_PAGE_FAULT_EVENTS (start INTEGER, address INTEGER);"
                      "INSERT INTO CUDA_UM_CPU_PAGE_FAULT_EVENTS VALUES (10, 1), ('soon', 2);")
                .find("CUDA_UM_CPU_PAGE_FAULT_EVENTS row 2: start must be a whole number, not 'soon'"),
            std::string::npos);
  EXPECT_NE(error_for("CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER, end INTEGER, bytes INTEGER, "
                      "copyKind INTEGER); INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (1, 2, -5, 11);")
                .find("bytes is negative"),
            std::string::npos);
  EXPECT_NE(error_for("CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER, end INTEGER, bytes INTEGER, "
                      "copyKind INTEGER); INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (1, NULL, 5, 12);")
                .find("end must be a whole number, not NULL"),
            std::string::npos);
  // Only explicit copies: nothing about paging to import.
  EXPECT_NE(error_for("CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER, end INTEGER, bytes INTEGER, "
                      "copyKind INTEGER); INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (1, 2, 5, 1);")
                .find("holds no unified-memory events"),
            std::string::npos);
  // A renumbered copy-kind enum must not be misread as unified-memory traffic.
  EXPECT_NE(
      error_for("CREATE TABLE ENUM_CUDA_MEMCPY_OPER (id INTEGER, name TEXT, label TEXT);"
                "INSERT INTO ENUM_CUDA_MEMCPY_OPER VALUES (11, 'CUDA_MEMCPY_KIND_FUTURE', 'Future copy');"
                "CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER, end INTEGER, bytes INTEGER, "
                "copyKind INTEGER); INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (1, 2, 5, 11);")
          .find("numbers copy kinds differently"),
      std::string::npos);
}

TEST_F(NsysTest, RefusedImportsLeaveTheStoreAsItWas) {
  Store store = Store::open(path("s.db"), Store::Mode::read_write);
  const auto data = imp::read_nsys_sqlite(export_path());
  NsysImportOptions options;
  options.optim = "not a name!";
  EXPECT_THROW(imp::write_nsys_events(store, data, options), ImportError);
  EXPECT_TRUE(store.comparisons().empty());
  imp::NsysUmData empty;
  EXPECT_THROW(imp::write_nsys_events(store, empty, {}), ImportError);
  EXPECT_TRUE(store.runs().empty());
}
