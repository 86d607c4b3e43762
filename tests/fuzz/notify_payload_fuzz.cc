// The NOTIFY payload codec (broker/store/postgres/notify_payload.h), both ways. A payload
// on "certbridge_events" can come from anyone who can connect to the database, and every
// replica decodes it on its listener thread. The first byte picks what the rest is:
//   even: a payload -> DecodeNotifyPayload. Properties: no decoded field holds a
//         separator; the decoded events encode and decode back to themselves (change_seq
//         <= 0 means "no change", so it reads back as 0).
//   odd:  events, as '\0'-separated pieces: tenant, ca, request, change_seq (decimal),
//         state, repeated (separators removed: ids cannot hold them) -> EncodeNotifyPayload.
//         A state survives only on a named change (change_seq > 0); collapsed records
//         carry none.
//         Properties: at most kMaxNotifyPayload bytes; decodes to the events when they
//         fit, else to a prefix of the collapsed records (one per tenant with the newest
//         change_seq, then one per tenant and CA with READY work), and no connectors.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "broker/store/postgres/notify_payload.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using certbridge::broker::DecodeNotifyPayload;
using certbridge::broker::EncodeNotifyPayload;
using certbridge::broker::kMaxNotifyPayload;
using certbridge::broker::NotifyConnectorChange;
using certbridge::broker::NotifyEvent;

bool HasSeparator(absl::string_view s) {
  return s.find('\x1e') != absl::string_view::npos || s.find('\x1f') != absl::string_view::npos;
}

bool Same(const std::vector<NotifyEvent>& a, const std::vector<NotifyEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].tenant_id != b[i].tenant_id || a[i].ca_id != b[i].ca_id ||
        a[i].request_name != b[i].request_name || a[i].change_seq != b[i].change_seq ||
        a[i].state != b[i].state) {
      return false;
    }
  }
  return true;
}

// Whether the codec sends the event's state ("S" record).
bool CarriesState(const NotifyEvent& e) {
  return !e.state.empty() && !e.request_name.empty() && e.change_seq > 0;
}

// What a record carries once it went through the codec: a change_seq <= 0 is no change,
// and only a named change keeps its state.
std::vector<NotifyEvent> Normalized(std::vector<NotifyEvent> events) {
  for (NotifyEvent& e : events) {
    if (!CarriesState(e)) e.state.clear();
    e.change_seq = std::max<int64_t>(e.change_seq, 0);
  }
  return events;
}

size_t EncodedSize(const std::vector<NotifyEvent>& events) {
  size_t size = events.empty() ? 0 : events.size() - 1;
  for (const NotifyEvent& e : events) {
    size += e.tenant_id.size() + e.ca_id.size() + e.request_name.size() + 3;
    if (e.change_seq > 0) size += absl::StrCat(e.change_seq).size();
    if (CarriesState(e)) size += 3 + e.state.size();  // "\x1eS\x1f" state
  }
  return size;
}

void CheckEncoding(const std::vector<NotifyEvent>& events) {
  const std::string payload = EncodeNotifyPayload(events);
  FUZZ_CHECK(payload.size() <= kMaxNotifyPayload);
  std::vector<NotifyConnectorChange> connectors;
  const std::vector<NotifyEvent> decoded = DecodeNotifyPayload(payload, &connectors);
  if (EncodedSize(events) <= kMaxNotifyPayload) {
    // An event with every field empty encodes as "\x1f\x1f\x1f", which is not empty: kept.
    FUZZ_CHECK(Same(decoded, Normalized(events)));
    // A tenant named "C" is still a 4-field record, never a connector change.
    FUZZ_CHECK(connectors.empty());
    return;
  }
  std::map<std::string, int64_t> changed;
  std::set<std::pair<std::string, std::string>> ready;
  for (const NotifyEvent& e : events) {
    if (!e.ca_id.empty()) ready.insert({e.tenant_id, e.ca_id});
    if (e.change_seq > 0) changed[e.tenant_id] = std::max(changed[e.tenant_id], e.change_seq);
  }
  std::vector<NotifyEvent> collapsed;
  for (const auto& [tenant_id, seq] : changed) collapsed.push_back({tenant_id, "", "", seq});
  for (const auto& [tenant_id, ca_id] : ready) collapsed.push_back({tenant_id, ca_id, "", 0});
  FUZZ_CHECK(decoded.size() <= collapsed.size());
  collapsed.resize(decoded.size());
  FUZZ_CHECK(Same(decoded, collapsed));
  FUZZ_CHECK(connectors.empty());
}

void DecodeThenEncode(absl::string_view payload) {
  std::vector<NotifyConnectorChange> connectors;
  const std::vector<NotifyEvent> events = DecodeNotifyPayload(payload, &connectors);
  for (const NotifyEvent& e : events) {
    FUZZ_CHECK(!HasSeparator(e.tenant_id) && !HasSeparator(e.ca_id) &&
               !HasSeparator(e.request_name) && !HasSeparator(e.state));
    // A state is decoded only onto a named change.
    FUZZ_CHECK(e.state.empty() || (!e.request_name.empty() && e.change_seq > 0));
  }
  for (const NotifyConnectorChange& c : connectors) {
    FUZZ_CHECK(!HasSeparator(c.tenant_id) && !HasSeparator(c.connector_id));
  }
  CheckEncoding(events);
}

void EncodeThenDecode(absl::string_view input) {
  std::vector<absl::string_view> pieces = absl::StrSplit(input, '\0');
  std::vector<NotifyEvent> events;
  for (size_t i = 0; i + 4 < pieces.size(); i += 5) {
    NotifyEvent e;
    e.tenant_id = absl::StrReplaceAll(pieces[i], {{"\x1e", ""}, {"\x1f", ""}});
    e.ca_id = absl::StrReplaceAll(pieces[i + 1], {{"\x1e", ""}, {"\x1f", ""}});
    e.request_name = absl::StrReplaceAll(pieces[i + 2], {{"\x1e", ""}, {"\x1f", ""}});
    if (!absl::SimpleAtoi(pieces[i + 3], &e.change_seq)) e.change_seq = 0;
    e.state = absl::StrReplaceAll(pieces[i + 4], {{"\x1e", ""}, {"\x1f", ""}});
    events.push_back(std::move(e));
  }
  CheckEncoding(events);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    DecodeThenEncode(rest);
  } else {
    EncodeThenDecode(rest);
  }
  return 0;
}
