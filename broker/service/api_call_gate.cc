#include "broker/service/api_call_gate.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "broker/service/field_checks.h"
#include "common/api_error.h"

namespace certbridge::broker {
namespace {

constexpr size_t kMaxQueueKeyId = 64;
constexpr char kRetryAfterMetadata[] = "certbridge-retry-after-ms";

int64_t RetryMillis(absl::Duration d) {
  return std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1))));
}

}  // namespace

ApiCallGate::ApiCallGate(const ApiKeyAuthenticator* auth, WorkerPool* pool, const Clock* clock,
                         ApiCallLimits limits)
    : auth_(auth), pool_(pool), clock_(clock), limits_(limits) {}

std::string ApiCallGate::QueueKeyOf(absl::string_view authorization) {
  absl::string_view key = authorization;
  if (!absl::ConsumePrefix(&key, "Bearer cbk.")) return "other";
  const size_t dot = key.find('.');
  if (dot == absl::string_view::npos || dot == 0 || dot > kMaxQueueKeyId) return "other";
  return absl::StrCat("key:", key.substr(0, dot));
}

void ApiCallGate::Run(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                      std::function<void(const Caller&)> work) {
  std::string authorization = AuthorizationHeader(*context);
  const std::string queue = QueueKeyOf(authorization);
  const bool queued = pool_->Post(
      queue,
      [this, context, reactor, work = std::move(work), authorization = std::move(authorization)] {
        absl::StatusOr<Caller> caller = auth_->Authenticate(authorization);
        if (!caller.ok()) {
          reactor->Finish(ToGrpcStatusWithDetails(caller.status()));
          return;
        }
        absl::Duration retry_after;
        if (absl::Status rate = CheckRates(*caller, &retry_after); !rate.ok()) {
          context->AddTrailingMetadata(kRetryAfterMetadata, absl::StrCat(RetryMillis(retry_after)));
          reactor->Finish(ToGrpcStatusWithDetails(rate));
          return;
        }
        work(*caller);
      },
      limits_.max_queued_per_key);
  if (!queued) {
    context->AddTrailingMetadata(kRetryAfterMetadata, "1000");
    reactor->Finish(ToGrpcStatusWithDetails(
        ApiError(absl::StatusCode::kResourceExhausted, "CALL_QUEUE_FULL",
                 absl::StrCat("this API key already has ", limits_.max_queued_per_key,
                              " calls waiting for the broker; wait for them, then retry in a "
                              "second"))
            .RetryAfter(absl::Seconds(1))));
  }
}

absl::StatusOr<Caller> ApiCallGate::Admit(absl::string_view authorization) {
  absl::StatusOr<Caller> caller = auth_->Authenticate(authorization);
  if (!caller.ok()) return caller;
  absl::Duration retry_after;
  if (absl::Status rate = CheckRates(*caller, &retry_after); !rate.ok()) return rate;
  return caller;
}

absl::Status ApiCallGate::CheckRates(const Caller& caller, absl::Duration* retry_after) {
  if (caller.is_operator) return absl::OkStatus();
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  TokenBucket& key = key_buckets_
                         .try_emplace(caller.key_id, limits_.key_calls_per_second,
                                      limits_.key_burst, now)
                         .first->second;
  if (absl::Duration wait = key.TryTake(now); wait > absl::ZeroDuration()) {
    *retry_after = wait;
    return ApiError(absl::StatusCode::kResourceExhausted, "RATE_LIMITED_API_KEY",
                    absl::StrCat("API key ", caller.key_id, " is over its limit of ",
                                 limits_.key_calls_per_second, " calls per second; retry after ",
                                 RetryMillis(wait), " ms"))
        .RetryAfter(wait)
        .Metadata("key_id", caller.key_id);
  }
  TokenBucket& tenant = tenant_buckets_
                            .try_emplace(caller.tenant_id, limits_.tenant_calls_per_second,
                                         limits_.tenant_burst, now)
                            .first->second;
  if (absl::Duration wait = tenant.TryTake(now); wait > absl::ZeroDuration()) {
    key.GiveBack();
    *retry_after = wait;
    return ApiError(absl::StatusCode::kResourceExhausted, "RATE_LIMITED_TENANT",
                    absl::StrCat("the tenant is over its limit of ",
                                 limits_.tenant_calls_per_second,
                                 " calls per second across its API keys; retry after ",
                                 RetryMillis(wait), " ms"))
        .RetryAfter(wait);
  }
  return absl::OkStatus();
}

}  // namespace certbridge::broker
