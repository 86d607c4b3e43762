#include "tools/certbridgectl/table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace certbridge::ctl {
namespace {

constexpr char kColumnGap[] = "   ";

const std::string& OrDash(const std::string& value) {
  static const std::string* const kDash = new std::string("-");
  return value.empty() ? *kDash : value;
}

void AppendPadded(std::string& out, const std::string& cell, size_t width) {
  out += cell;
  out.append(width - std::min(width, DisplayWidth(cell)), ' ');
}

}  // namespace

size_t DisplayWidth(absl::string_view text) {
  return std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  });
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) widths[i] = DisplayWidth(headers_[i]);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(OrDash(row[i])));
    }
  }
  std::string out;
  auto append_line = [&](const std::vector<std::string>& cells, bool dash_empty) {
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string& cell = dash_empty ? OrDash(cells[i]) : cells[i];
      if (i + 1 == cells.size()) {
        out += cell;  // The last column is not padded: no trailing spaces.
      } else {
        AppendPadded(out, cell, widths[i]);
        out += kColumnGap;
      }
    }
    out += '\n';
  };
  append_line(headers_, /*dash_empty=*/false);
  for (const auto& row : rows_) append_line(row, /*dash_empty=*/true);
  return out;
}

std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [key, value] : fields) width = std::max(width, DisplayWidth(key) + 1);
  std::string out;
  for (const auto& [key, value] : fields) {
    AppendPadded(out, absl::StrCat(key, ":"), width);
    absl::StrAppend(&out, " ", OrDash(value), "\n");
  }
  return out;
}

std::string FormatRfc3339(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

std::string FormatAge(absl::Time then, absl::Time now) {
  const bool future = then > now;
  const absl::Duration age = future ? then - now : now - then;
  std::string amount;
  if (age < absl::Minutes(1)) {
    amount = absl::StrCat(absl::ToInt64Seconds(age), "s");
  } else if (age < absl::Hours(1)) {
    amount = absl::StrCat(absl::ToInt64Minutes(age), "m");
  } else if (age < absl::Hours(48)) {
    amount = absl::StrCat(absl::ToInt64Hours(age), "h");
  } else {
    amount = absl::StrCat(absl::ToInt64Hours(age) / 24, "d");
  }
  return future ? absl::StrCat("in ", amount) : absl::StrCat(amount, " ago");
}

}  // namespace certbridge::ctl
