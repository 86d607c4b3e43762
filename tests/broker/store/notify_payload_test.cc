#include "broker/store/postgres/notify_payload.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace certbridge::broker {

// Found by argument-dependent lookup, so in the struct's namespace.
bool operator==(const NotifyEvent& a, const NotifyEvent& b) {
  return a.tenant_id == b.tenant_id && a.ca_id == b.ca_id && a.request_name == b.request_name &&
         a.change_seq == b.change_seq && a.state == b.state;
}

namespace {

TEST(NotifyPayloadTest, RecordsRoundTrip) {
  const std::vector<NotifyEvent> events = {{"t1", "ca-1", "", 0}, {"t1", "", "req-1", 42}};
  const std::string payload = EncodeNotifyPayload(events);
  EXPECT_EQ(payload, "t1\x1f" "ca-1\x1f\x1f\x1et1\x1f\x1freq-1\x1f" "42");
  std::vector<NotifyConnectorChange> connectors;
  EXPECT_EQ(DecodeNotifyPayload(payload, &connectors), events);
  EXPECT_TRUE(connectors.empty());
}

TEST(NotifyPayloadTest, StateOfANamedChangeTravelsInARecordOfItsOwn) {
  const std::vector<NotifyEvent> events = {{"t1", "", "req-1", 42, "ISSUED"},
                                           {"t1", "ca-1", "", 0, "IGNORED"}};
  const std::string payload = EncodeNotifyPayload(events);
  // The change keeps its four fields: the decoder before the state skipped every record
  // that had not four (or "C"/"A" three), so it skips "S" alone and still sees the change.
  EXPECT_EQ(payload, "t1\x1f\x1freq-1\x1f" "42\x1eS\x1fISSUED\x1et1\x1f" "ca-1\x1f\x1f");
  std::vector<NotifyConnectorChange> connectors;
  EXPECT_EQ(DecodeNotifyPayload(payload, &connectors),
            (std::vector<NotifyEvent>{{"t1", "", "req-1", 42, "ISSUED"}, {"t1", "ca-1", "", 0}}));
  // From a replica without it: state unknown. An "S" after anything but a named change
  // (first, after READY work, after an unnamed change) belongs to no request: skipped.
  EXPECT_EQ(DecodeNotifyPayload("S\x1fISSUED\x1et1\x1f\x1freq-1\x1f" "42\x1e"
                                "t1\x1f" "ca-1\x1f\x1f\x1eS\x1fISSUED\x1e"
                                "t1\x1f\x1f\x1f" "43\x1eS\x1fISSUED",
                                &connectors),
            (std::vector<NotifyEvent>{
                {"t1", "", "req-1", 42}, {"t1", "ca-1", "", 0}, {"t1", "", "", 43}}));
}

TEST(NotifyPayloadTest, DecodesConnectorRecordsAndSkipsForeignOnes) {
  std::vector<NotifyConnectorChange> connectors;
  const std::vector<NotifyEvent> events = DecodeNotifyPayload(
      "C\x1ft1\x1f" "c-7\x1e" "hello from psql\x1et2\x1f\x1fr\x1fnot-a-number\x1e\x1e"
      "t3\x1f\x1fr\x1f" "5",
      &connectors);
  ASSERT_EQ(connectors.size(), 1u);
  EXPECT_EQ(connectors[0].tenant_id, "t1");
  EXPECT_EQ(connectors[0].connector_id, "c-7");
  EXPECT_EQ(events, (std::vector<NotifyEvent>{{"t3", "", "r", 5}}));
}

TEST(NotifyPayloadTest, DecodesCertificateAuthorityRecordsApart) {
  std::vector<NotifyConnectorChange> connectors;
  std::vector<NotifyCaChange> cas;
  std::vector<NotifyEvent> events = DecodeNotifyPayload(
      "A\x1ft1\x1f" "ca-1\x1e" "t1\x1f" "ca-2\x1f\x1f", &connectors, &cas);
  ASSERT_EQ(cas.size(), 1u);
  EXPECT_EQ(cas[0].tenant_id, "t1");
  EXPECT_EQ(cas[0].ca_id, "ca-1");
  EXPECT_TRUE(connectors.empty());
  ASSERT_EQ(events.size(), 1u);  // the "A" record is not READY work of a CA "t1"
  EXPECT_EQ(events[0].ca_id, "ca-2");
  // Without the list, "A" records are skipped (an older reader of a newer payload).
  EXPECT_EQ(DecodeNotifyPayload("A\x1ft1\x1f" "ca-1", &connectors).size(), 0u);
}

TEST(NotifyPayloadTest, TooManyRecordsCollapsePerTenantAndStayBelowTheLimit) {
  std::vector<NotifyEvent> events;
  for (int i = 1; i <= 500; ++i) {
    events.push_back({"tenant-a", "", absl::StrCat("request-", i), i, "DISPATCHED"});
    events.push_back({"tenant-b", "ca-b", "", 0});
  }
  const std::string payload = EncodeNotifyPayload(events);
  EXPECT_LE(payload.size(), kMaxNotifyPayload);
  // The collapsed record is several requests': no state.
  std::vector<NotifyConnectorChange> connectors;
  EXPECT_EQ(DecodeNotifyPayload(payload, &connectors),
            (std::vector<NotifyEvent>{{"tenant-a", "", "", 500}, {"tenant-b", "ca-b", "", 0}}));
}

}  // namespace
}  // namespace certbridge::broker
