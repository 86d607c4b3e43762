// RequestChangeWaiters (broker/service/request_change_waiters.h), without threads where a
// wait can return at once: which changes wake a subscription, which record a woken waiter is
// handed (so that it skips its read), and that tenants and requests stay apart (issue 9).
#include "broker/service/request_change_waiters.h"

#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "absl/time/time.h"

namespace certbridge::broker {
namespace {

bool StopsWaiting(RequestState state) {
  return IsTerminal(state) || state == RequestState::kPendingApproval;
}

CertificateRequestRecord Record(const std::string& tenant_id, const std::string& name,
                                RequestState state, int64_t change_seq) {
  CertificateRequestRecord r;
  r.tenant_id = tenant_id;
  r.name = name;
  r.state = state;
  r.change_seq = change_seq;
  return r;
}

// A wait that must not return true: no time at all (the state is checked before the wait).
constexpr absl::Duration kNoWake = absl::ZeroDuration();

TEST(RequestChangeWaitersTest, AChangeThatCannotEndTheWaitDoesNotWakeIt) {
  RequestChangeWaiters waiters;
  RequestChangeWaiters::Subscription changes(&waiters, "t1", "r1", &StopsWaiting);
  waiters.RequestChanged("t1", "r1", 11, RequestState::kDispatched);
  std::optional<CertificateRequestRecord> written;
  EXPECT_FALSE(changes.WaitForChange(kNoWake, 10, &written));
  // Unknown state, unnamed (collapsed) or unknown number: they wake, and the waiter reads.
  waiters.RequestChanged("t1", "r1", 12, std::nullopt);
  EXPECT_TRUE(changes.WaitForChange(absl::ZeroDuration(), 10, &written));
  EXPECT_FALSE(written.has_value());
  waiters.RequestChanged("t1", "", 13);
  EXPECT_TRUE(changes.WaitForChange(absl::ZeroDuration(), 12, &written));
  waiters.RequestChanged("t1", "r1", 0, RequestState::kIssued);
  EXPECT_TRUE(changes.WaitForChange(absl::ZeroDuration(), 13, &written));
  // A settling state wakes.
  waiters.RequestChanged("t1", "r1", 14, RequestState::kIssued);
  EXPECT_TRUE(changes.WaitForChange(absl::ZeroDuration(), 13, &written));
  EXPECT_FALSE(written.has_value());
}

TEST(RequestChangeWaitersTest, AChangeTheHeldCopyShowsDoesNotWake) {
  RequestChangeWaiters waiters;
  RequestChangeWaiters::Subscription changes(&waiters, "t1", "r1", &StopsWaiting);
  waiters.RequestChanged("t1", "r1", 11, RequestState::kIssued);
  std::optional<CertificateRequestRecord> written;
  // The waiter's read already returned change 11 (or later).
  EXPECT_FALSE(changes.WaitForChange(kNoWake, 11, &written));
  waiters.RequestChanged("t1", "", 9);  // a collapsed record older than the held copy
  EXPECT_FALSE(changes.WaitForChange(kNoWake, 11, &written));
}

TEST(RequestChangeWaitersTest, AWrittenRecordIsHandedOverAndItsNotificationCostsNothing) {
  RequestChangeWaiters waiters;
  RequestChangeWaiters::Subscription changes(&waiters, "t1", "r1", &StopsWaiting);
  waiters.RequestRecorded(Record("t1", "r1", RequestState::kIssued, 12));
  std::optional<CertificateRequestRecord> written;
  ASSERT_TRUE(changes.WaitForChange(absl::ZeroDuration(), 10, &written));
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(written->state, RequestState::kIssued);
  EXPECT_EQ(written->change_seq, 12);
  // The notifications of that change and of the older dispatch arrive later.
  waiters.RequestChanged("t1", "r1", 12, RequestState::kIssued);
  waiters.RequestChanged("t1", "r1", 11, RequestState::kDispatched);
  EXPECT_FALSE(changes.WaitForChange(kNoWake, 12, &written));
}

TEST(RequestChangeWaitersTest, ARecordOlderThanANotifiedChangeIsNotHandedOver) {
  RequestChangeWaiters waiters;
  RequestChangeWaiters::Subscription changes(&waiters, "t1", "r1", &StopsWaiting);
  waiters.RequestRecorded(Record("t1", "r1", RequestState::kPendingApproval, 12));
  waiters.RequestChanged("t1", "r1", 13, std::nullopt);  // newer, state unknown
  std::optional<CertificateRequestRecord> written;
  ASSERT_TRUE(changes.WaitForChange(absl::ZeroDuration(), 10, &written));
  EXPECT_FALSE(written.has_value()) << "must read: change 13 is newer than the record";
  // A record older than one already handed over is not handed over again (no going back).
  waiters.RequestRecorded(Record("t1", "r1", RequestState::kIssued, 15));
  waiters.RequestRecorded(Record("t1", "r1", RequestState::kPendingApproval, 14));
  ASSERT_TRUE(changes.WaitForChange(absl::ZeroDuration(), 13, &written));
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(written->change_seq, 15);
  // A record not newer than the copy the waiter holds wakes nothing.
  waiters.RequestRecorded(Record("t1", "r1", RequestState::kIssued, 15));
  EXPECT_FALSE(changes.WaitForChange(kNoWake, 15, &written));
}

TEST(RequestChangeWaitersTest, RecordsGoOnlyToTheirTenantAndRequest) {
  RequestChangeWaiters waiters;
  RequestChangeWaiters::Subscription changes(&waiters, "t1", "r1", &StopsWaiting);
  waiters.RequestRecorded(Record("t2", "r1", RequestState::kIssued, 20));
  waiters.RequestRecorded(Record("t1", "r2", RequestState::kIssued, 21));
  std::optional<CertificateRequestRecord> written;
  EXPECT_FALSE(changes.WaitForChange(kNoWake, 10, &written));
  EXPECT_FALSE(written.has_value());
}

// The waiting thread is woken by a record handed over from another thread (the writer's).
TEST(RequestChangeWaitersTest, AWaitingThreadIsWokenByAWrittenRecord) {
  RequestChangeWaiters waiters;
  RequestChangeWaiters::Subscription changes(&waiters, "t1", "r1", &StopsWaiting);
  // Whether the record comes before the wait begins or during it, the wait returns it.
  std::thread writer([&] { waiters.RequestRecorded(Record("t1", "r1", RequestState::kDenied, 30)); });
  std::optional<CertificateRequestRecord> written;
  const bool woken = changes.WaitForChange(absl::Seconds(10), 29, &written);
  writer.join();
  ASSERT_TRUE(woken);
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(written->state, RequestState::kDenied);
}

TEST(RequestChangeWaitersTest, DrainEndsTheWaitWithoutARecord) {
  RequestChangeWaiters waiters;
  RequestChangeWaiters::Subscription changes(&waiters, "t1", "r1", &StopsWaiting);
  waiters.RequestRecorded(Record("t1", "r1", RequestState::kIssued, 12));
  waiters.Drain();
  std::optional<CertificateRequestRecord> written;
  EXPECT_FALSE(changes.WaitForChange(absl::Seconds(10), 10, &written));
  EXPECT_FALSE(written.has_value());
}

}  // namespace
}  // namespace certbridge::broker
