// The payload of the NOTIFY that PostgresStore sends on channel "certbridge_events" and
// every replica's listener reads back. Pure functions (no libpq) so the codec is unit-
// tested and fuzzed (tests/fuzz/notify_payload_fuzz.cc) on its own.
//
// Format: records separated by \x1e, fields by \x1f.
//   "tenant_id \x1f ca_id \x1f request_name \x1f change_seq"
//     ca_id non-empty       -> new READY work for this CA (OnJobsReady)
//     change_seq non-empty  -> the request changed (OnRequestChanged); request_name is
//                              empty when several requests of the tenant were collapsed
//                              into one record to keep the payload small.
//   "S \x1f state"
//     -> the request state ("QUEUED", "ISSUED", ... as RequestStateName spells it) that the
//        change of the record just before it left; only after a named request change.
//        A change without it (a collapsed record, or a replica still on the format without
//        "S" during a rolling upgrade) has state unknown: waiters re-read, as before.
//        Why a record of its own rather than a fifth field: the decoder before it skips
//        every record whose field count it does not know, so a fifth field would hide the
//        whole change from a replica not yet upgraded; an "S" record (two fields) is
//        skipped alone, and that replica still sees the change, without the state.
//   "C \x1f tenant_id \x1f connector_id"
//     -> the connector changed (OnConnectorChanged); sent by SQL in postgres_store.cc.
//   "A \x1f tenant_id \x1f ca_id"
//     -> the certificate authority was created or deleted: every replica drops it from its
//        CertificateAuthorityCache. Sent by SQL in postgres_store.cc; not a listener call.
// Ids cannot hold control characters (record_validation.h), so the separators are safe.
//
//   std::string payload = EncodeNotifyPayload(events);          // in the COMMIT round trip
//   std::vector<NotifyConnectorChange> connectors;
//   std::vector<NotifyEvent> events = DecodeNotifyPayload(payload, &connectors);
#ifndef CERTBRIDGE_BROKER_STORE_POSTGRES_NOTIFY_PAYLOAD_H_
#define CERTBRIDGE_BROKER_STORE_POSTGRES_NOTIFY_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace certbridge::broker {

// NOTIFY payloads must stay below 8000 bytes; far below keeps the commit cheap.
inline constexpr size_t kMaxNotifyPayload = 4000;

struct NotifyEvent {
  std::string tenant_id;
  std::string ca_id;         // non-empty: new READY work for this CA
  std::string request_name;  // with change_seq > 0: this request changed
  int64_t change_seq = 0;    // 0: no request change
  // With a named request change: the state the change left ("ISSUED"); empty: unknown.
  // Not validated here (the codec knows no states); the listener maps it.
  std::string state = {};
};

struct NotifyConnectorChange {
  std::string tenant_id;
  std::string connector_id;
};

struct NotifyCaChange {
  std::string tenant_id;
  std::string ca_id;
};

// At most kMaxNotifyPayload bytes. Too many records: request changes collapse to one
// record per tenant (empty name, newest change_seq), then records that still do not fit
// are dropped (the dispatcher's sweep finds that work).
// REQUIRES: no field of `events` holds \x1e or \x1f.
std::string EncodeNotifyPayload(const std::vector<NotifyEvent>& events);

// Any bytes (a NOTIFY on the channel may come from anyone with database access). Records
// that are not ours (a newer format, a manual NOTIFY) are skipped; an "S" record sets the
// state of the request change decoded just before it (ignored after anything else); "C" records are
// appended to *connectors, "A" records to *cas (skipped when cas is nullptr).
// REQUIRES: connectors != nullptr.
std::vector<NotifyEvent> DecodeNotifyPayload(absl::string_view payload,
                                             std::vector<NotifyConnectorChange>* connectors,
                                             std::vector<NotifyCaChange>* cas = nullptr);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_POSTGRES_NOTIFY_PAYLOAD_H_
