#include "broker/store/postgres/notify_payload.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace certbridge::broker {
namespace {

bool HasState(const NotifyEvent& e) {
  return !e.state.empty() && !e.request_name.empty() && e.change_seq > 0;
}

std::string EncodeRecords(const std::vector<NotifyEvent>& events) {
  std::vector<std::string> records;
  for (const NotifyEvent& e : events) {
    records.push_back(absl::StrCat(e.tenant_id, "\x1f", e.ca_id, "\x1f", e.request_name, "\x1f",
                                   e.change_seq > 0 ? absl::StrCat(e.change_seq) : ""));
    if (HasState(e)) records.push_back(absl::StrCat("S\x1f", e.state));
  }
  return absl::StrJoin(records, "\x1e");
}

}  // namespace

std::string EncodeNotifyPayload(const std::vector<NotifyEvent>& events) {
  std::string payload = EncodeRecords(events);
  if (payload.size() <= kMaxNotifyPayload) return payload;
  std::set<std::pair<std::string, std::string>> ready;
  std::map<std::string, int64_t> changed;
  for (const NotifyEvent& e : events) {
    if (!e.ca_id.empty()) ready.insert({e.tenant_id, e.ca_id});
    if (e.change_seq > 0) changed[e.tenant_id] = std::max(changed[e.tenant_id], e.change_seq);
  }
  std::vector<NotifyEvent> collapsed;
  for (const auto& [tenant_id, seq] : changed) collapsed.push_back({tenant_id, "", "", seq});
  for (const auto& [tenant_id, ca_id] : ready) collapsed.push_back({tenant_id, ca_id, "", 0});
  payload.clear();
  for (const NotifyEvent& e : collapsed) {
    std::string record = EncodeRecords({e});
    if (payload.size() + record.size() + 1 > kMaxNotifyPayload) break;
    if (!payload.empty()) payload += '\x1e';
    payload += record;
  }
  return payload;
}

std::vector<NotifyEvent> DecodeNotifyPayload(absl::string_view payload,
                                             std::vector<NotifyConnectorChange>* connectors,
                                             std::vector<NotifyCaChange>* cas) {
  std::vector<NotifyEvent> events;
  bool last_is_named_change = false;  // an "S" record may follow
  for (absl::string_view record : absl::StrSplit(payload, '\x1e', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(record, '\x1f');
    const bool after_named_change = last_is_named_change;
    last_is_named_change = false;
    if (f.size() == 2 && f[0] == "S") {
      if (after_named_change) events.back().state = std::string(f[1]);
      continue;
    }
    if (f.size() == 3 && f[0] == "C") {
      connectors->push_back({std::string(f[1]), std::string(f[2])});
      continue;
    }
    if (f.size() == 3 && f[0] == "A") {
      if (cas != nullptr) cas->push_back({std::string(f[1]), std::string(f[2])});
      continue;
    }
    if (f.size() != 4) continue;  // not ours (a newer format, or a manual NOTIFY)
    NotifyEvent e{std::string(f[0]), std::string(f[1]), std::string(f[2]), 0};
    if (!f[3].empty() && !absl::SimpleAtoi(f[3], &e.change_seq)) continue;
    last_is_named_change = !e.request_name.empty() && e.change_seq > 0;
    events.push_back(std::move(e));
  }
  return events;
}

}  // namespace certbridge::broker
