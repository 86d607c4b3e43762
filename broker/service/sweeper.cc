#include "broker/service/sweeper.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace certbridge::broker {

Sweeper::Sweeper(CertificateStore* requests, CertificateApi* api, JobDispatcher* dispatcher,
                 const Clock* clock, absl::Duration period)
    : requests_(requests), api_(api), dispatcher_(dispatcher), clock_(clock), period_(period) {
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
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ready =
      requests_->ListCasWithReadyJobs(clock_->Now());
  if (ready.ok()) {
    for (const auto& [tenant_id, ca_id] : *ready) dispatcher_->JobsReady(tenant_id, ca_id);
  }
}

}  // namespace certbridge::broker
