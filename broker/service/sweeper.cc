#include "broker/service/sweeper.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace certbridge::broker {

namespace {

// Changes removed per transaction, and transactions per pass: a pass stays short, and at
// the default 2 s period the sweep removes up to 50,000 changes a second, far above any
// rate at which they are written.
constexpr int kChangeDeleteBatch = 10'000;
constexpr int kChangeDeleteBatchesPerPass = 10;

}  // namespace

Sweeper::Sweeper(CertificateStore* requests, CertificateApi* api, JobDispatcher* dispatcher,
                 const Clock* clock, absl::Duration period, absl::Duration change_retention)
    : requests_(requests),
      api_(api),
      dispatcher_(dispatcher),
      clock_(clock),
      period_(period),
      change_retention_(change_retention) {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(period_)) SweepOnce();
  });
}

Sweeper::~Sweeper() {
  stop_.Notify();
  thread_.join();
}

void Sweeper::SweepOnce() {
  absl::StatusOr<int> leases = requests_->ExpireLeases(clock_->Now());
  if (!leases.ok()) {
    LogWarning("sweep.expire_leases_failed", {{"error", leases.status().message()}});
  } else if (*leases > 0) {
    LogInfo("sweep.leases_expired", {{"count", absl::StrCat(*leases)}});
  }
  absl::StatusOr<int> expired = api_->ExpireOverdueRequests();
  if (!expired.ok()) {
    LogWarning("sweep.expire_requests_failed", {{"error", expired.status().message()}});
  } else if (*expired > 0) {
    LogInfo("sweep.requests_expired", {{"count", absl::StrCat(*expired)}});
  }
  absl::StatusOr<int> aged = api_->ExpireWaitingRequests();
  if (!aged.ok()) {
    LogWarning("sweep.expire_waiting_failed", {{"error", aged.status().message()}});
  } else if (*aged > 0) {
    LogInfo("sweep.waiting_requests_expired", {{"count", absl::StrCat(*aged)}});
  }
  int changes_removed = 0;
  const absl::Time keep_from = clock_->Now() - change_retention_;
  for (int batch = 0; batch < kChangeDeleteBatchesPerPass; ++batch) {
    absl::StatusOr<int> removed = requests_->DeleteRequestChangesBefore(keep_from, kChangeDeleteBatch);
    if (!removed.ok()) {
      LogWarning("sweep.delete_changes_failed", {{"error", removed.status().message()}});
      break;
    }
    changes_removed += *removed;
    if (*removed < kChangeDeleteBatch) break;
  }
  if (changes_removed > 0) {
    LogInfo("sweep.request_changes_removed", {{"count", absl::StrCat(changes_removed)}});
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ready =
      requests_->ListCasWithReadyJobs(clock_->Now());
  if (ready.ok()) {
    // Every slot serving the CA claims once: a job may be bound to one identity (§5.1).
    for (const auto& [tenant_id, ca_id] : *ready) dispatcher_->JobsStillReady(tenant_id, ca_id);
  }
}

}  // namespace certbridge::broker
