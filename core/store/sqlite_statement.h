#pragma once
// A prepared statement that finalizes itself and turns SQLite errors into StoreError.
#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "store/store.h"

namespace optiscope::detail {

[[noreturn]] void throw_sqlite(sqlite3* db, const std::string& what);
/// Ends the open transaction, if there still is one: SQLite rolls a transaction back by itself
/// after some errors (a full disk among them), and a second ROLLBACK would then fail with "cannot
/// rollback - no transaction is active", hiding the error that mattered. Never throws.
void rollback_if_open(sqlite3* db) noexcept;

class Statement {
 public:
  Statement(sqlite3* db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, const std::string& value);
  Statement& bind_null(int index);

  /// True while a row is available.
  bool step();
  /// Runs a statement that returns no rows.
  void run();
  void reset();

  std::int64_t int64(int column) const;
  double real(int column) const;
  std::string text(int column) const;
  bool is_null(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql);

/// Now, as the store writes times: ISO 8601 in UTC, to the second ("2026-12-05T13:44:05Z").
std::string utc_now();

}  // namespace optiscope::detail
