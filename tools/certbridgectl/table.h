// Plain-text layout for certbridgectl's table output: aligned columns, aligned
// "Key: value" blocks, and human-readable times.
//
//   Table table({"CONNECTOR ID", "STATE"});
//   table.AddRow({"c-42", "ACTIVE"});
//   std::cout << table.Render();
//
// Widths count UTF-8 code points, so names such as "Zürich CA" line up; wide (CJK) and
// combining characters are not measured specially. Not thread-safe; all functions are pure.
#ifndef CERTBRIDGE_TOOLS_CERTBRIDGECTL_TABLE_H_
#define CERTBRIDGE_TOOLS_CERTBRIDGECTL_TABLE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace certbridge::ctl {

class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // REQUIRES: cells.size() equals the number of headers. Empty cells print as "-".
  void AddRow(std::vector<std::string> cells);

  bool empty() const { return rows_.empty(); }

  // The header line and one line per row, columns separated by three spaces, every line
  // ending in '\n' and carrying no trailing spaces.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "Key:" labels padded to one width, one pair per line: a detail view of one object.
// Empty values print as "-".
std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields);

// RFC 3339 in UTC with whole seconds, e.g. "2026-11-22T11:03:38Z".
std::string FormatRfc3339(absl::Time time);

// How long ago `then` was, seen at `now`: "12s ago", "5m ago", "3h ago", "2d ago"; a future
// time reads "in 5m". Rounds down to the unit shown: seconds under a minute, minutes under an
// hour, hours under two days, days beyond.
std::string FormatAge(absl::Time then, absl::Time now);

// Number of UTF-8 code points in `text` (bytes that are not continuation bytes).
size_t DisplayWidth(absl::string_view text);

}  // namespace certbridge::ctl

#endif  // CERTBRIDGE_TOOLS_CERTBRIDGECTL_TABLE_H_
