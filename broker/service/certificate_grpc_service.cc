#include "broker/service/certificate_grpc_service.h"

#include <atomic>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/service/field_checks.h"
#include "broker/service/proto_mapping.h"
#include "broker/service/stream_outbox.h"
#include "broker/service/unary_dispatch.h"
#include "common/api_error.h"
#include "common/log.h"

namespace certbridge::broker {
namespace {

constexpr absl::Duration kRevokeWait = absl::Seconds(30);
constexpr int kWatchBatch = 100;


// A state a waiting caller wants to hear about: terminal, or pending an officer (which
// can take hours).
bool Settled(const v1::CertificateRequest& r) {
  switch (r.state()) {
    case v1::CertificateRequest::STATE_QUEUED:
    case v1::CertificateRequest::STATE_DISPATCHED:
      return false;
    default:
      return true;
  }
}

// Settled's verdict for a request in `state`, for judging a change notification without a
// read (AddWaiter). Derived from Settled itself, so the two cannot disagree; valid because
// Settled looks at the state alone (RevokeSettled does not: it has none).
bool SettledByState(RequestState state) {
  CertificateRequestRecord r;
  r.state = state;
  return Settled(ToProto(r));
}

// What CreateCertificateRequest's wait needs of the create (AddWaiter).
struct CreatedRecord {
  uint64_t since = 0;    // NotificationCount() before the create
  int64_t seen_seq = 0;  // change_seq of the record it inserted; 0 if it inserted none
};

bool RevokeSettled(const v1::CertificateRequest& r) {
  return r.state() == v1::CertificateRequest::STATE_REVOKED || r.error_code().rfind("REVOKE_", 0) == 0 ||
         r.error_code().rfind("AGENT_POLICY_", 0) == 0;
}

}  // namespace

// One WatchCertificateRequests stream: sends every change after its cursor, in order.
//
// Flow control: it reads one batch of changes at a time and reads the next only when the
// client has taken the last one (OnOutboxDrained), so a client that watches from cursor 0
// or never reads holds at most one batch in the broker's memory.
class CertificateGrpcService::WatchStream final
    : public OutboxReactor<grpc::ServerWriteReactor<v1::CertificateRequestEvent>,
                           v1::CertificateRequestEvent> {
 public:
  WatchStream(CertificateGrpcService* service, grpc::CallbackServerContext* context,
              const v1::WatchCertificateRequestsRequest* request)
      : service_(service) {
    Ref();
    service_->pool_->Post([this, authorization = AuthorizationHeader(*context),
                           request = *request] {
      Start(authorization, request);
      Unref();
    });
  }

  // There may be new changes: read them (on the pool), unless a read is under way, in
  // which case it reads again when done, or the client has not taken the last batch yet,
  // in which case it reads when it has.
  void Poke() {
    {
      absl::MutexLock lock(&mu_);
      if (!started_) return;
      if (fetching_ || backlog_) {
        fetch_again_ = true;
        return;
      }
      fetching_ = true;
    }
    Ref();
    service_->pool_->Post([this] {
      Fetch();
      Unref();
    });
  }

  // OnDone may run before Start (the client cancelled while the stream was starting):
  // Start then does not register, so no freed stream is left in watches_.
  void OnDone() override {
    if (MarkDone()) service_->RemoveWatch(tenant_id_, this);
    Unref();
  }

 private:
  void OnOutboxDrained() override {
    {
      absl::MutexLock lock(&mu_);
      if (!backlog_) return;
      backlog_ = false;
    }
    Poke();
  }

  // The unary RPCs' path (unary_dispatch.h) as a stream takes it: the gate admits the
  // caller, CertificateApi checks the call, and an error ends the stream with its details.
  void Start(const std::string& authorization,
             const v1::WatchCertificateRequestsRequest& request) {
    absl::StatusOr<Caller> caller = service_->gate_->Admit(authorization);
    absl::StatusOr<int64_t> cursor =
        caller.ok() ? service_->api_->WatchCursor(*caller, request) : caller.status();
    if (!cursor.ok()) {
      End(ToGrpcStatusWithDetails(cursor.status()));
      return;
    }
    tenant_id_ = caller->tenant_id;
    {
      absl::MutexLock lock(&mu_);
      cursor_ = *cursor;
      started_ = true;
    }
    bool over_limit = false;
    const bool registered = RegisterUnlessDone([&] {
      over_limit = !service_->AddWatch(tenant_id_, this);
      return !over_limit;
    });
    if (over_limit) {
      End(ToGrpcStatusWithDetails(
          ApiError(absl::StatusCode::kResourceExhausted, "WATCH_STREAM_LIMIT",
                   absl::StrCat("this tenant already has ",
                                service_->limits_.max_watch_streams_per_tenant,
                                " Watch streams open; one stream sees every change of the "
                                "tenant, so share it, or close one and retry in a few seconds"))
              .RetryAfter(absl::Seconds(5))
              .Metadata("max_watch_streams_per_tenant",
                        absl::StrCat(service_->limits_.max_watch_streams_per_tenant))));
      return;
    }
    if (registered) Poke();  // changes between the cursor and now
  }

  void Fetch() {
    int64_t cursor;
    {
      absl::MutexLock lock(&mu_);
      cursor = cursor_;
      fetch_again_ = false;
    }
    absl::StatusOr<std::vector<CertificateRequestRecord>> changes =
        service_->requests_->ListRequestChanges(tenant_id_, cursor, kWatchBatch);
    bool read_again_now = false;
    {
      absl::MutexLock lock(&mu_);
      fetching_ = false;
      if (!changes.ok()) {
        // The store refuses a cursor whose change is gone (past the retention, or never
        // this tenant's): the client re-lists (docs/certificates.md, "Errors").
        End(ToGrpcStatusWithDetails(absl::IsFailedPrecondition(changes.status())
                                        ? WithReason(changes.status(), "CURSOR_EXPIRED")
                                        : changes.status()));
        return;
      }
      // One event per change, in the store's history order (change numbers are not
      // monotonic in it: certificate_store.h), from the cursor on; reads are one at a time.
      for (const CertificateRequestRecord& r : *changes) {
        cursor_ = r.change_seq;
        Send(ToEvent(r));
      }
      if (static_cast<int>(changes->size()) == kWatchBatch || fetch_again_) {
        // More to read: once the client has taken what is queued. If nothing is queued
        // there will be no drain to wait for.
        if (QueuedMessages() == 0) {
          read_again_now = true;
          fetch_again_ = false;
        } else {
          backlog_ = true;
        }
      }
    }
    if (read_again_now) Poke();
  }

  CertificateGrpcService* service_;
  std::string tenant_id_;  // set once in Start, before registration

  // Lock order: mu_ before the outbox's lock (Fetch sends while holding mu_).
  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  int64_t cursor_ ABSL_GUARDED_BY(mu_) = 0;
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  bool fetch_again_ ABSL_GUARDED_BY(mu_) = false;
  // A batch is queued and more changes wait to be read after it.
  bool backlog_ ABSL_GUARDED_BY(mu_) = false;
};

CertificateGrpcService::CertificateGrpcService(CertificateApi* api, CertificateStore* requests,
                                               ApiCallGate* gate, WorkerPool* pool,
                                               const Clock* clock, CertificateServiceLimits limits)
    : api_(api),
      requests_(requests),
      gate_(gate),
      pool_(pool),
      clock_(clock),
      limits_(limits),
      metrics_(limits_.metrics != nullptr ? limits_.metrics : &no_metrics_) {
  ticker_ = std::thread([this] { TickerLoop(); });
}

CertificateGrpcService::~CertificateGrpcService() {
  stop_ticker_.Notify();
  ticker_.join();
}

grpc::ServerUnaryReactor* CertificateGrpcService::CreateCertificateRequest(
    grpc::CallbackServerContext* context, const v1::CreateCertificateRequestRequest* request,
    v1::CertificateRequest* response) {
  // What the waiter needs to know of the create: set by the work, read by keep_open,
  // both on the same pool thread one after the other.
  auto created = std::make_shared<CreatedRecord>();
  return ServeUnary(
      gate_, context, response,
      [this, request, created](const Caller& caller) -> absl::StatusOr<v1::CertificateRequest> {
        created->since = NotificationCount();
        bool inserted = false;
        absl::StatusOr<CertificateRequestRecord> r = api_->Create(caller, *request, &inserted);
        if (!r.ok()) return r.status();
        // Only a record this call inserted counts as read after `since`: an idempotent
        // repeat's record comes from a read by request_id, which the registration re-reads
        // as it always did.
        created->seen_seq = inserted ? r->change_seq : 0;
        return ToProto(*r);
      },
      // Waits up to wait_timeout for a settled state.
      [this, request, response, created](const Caller& caller,
                                         grpc::ServerUnaryReactor* reactor) {
        const absl::Duration wait = absl::Seconds(request->wait_timeout().seconds()) +
                                    absl::Nanoseconds(request->wait_timeout().nanos());
        if (Settled(*response) || wait <= absl::ZeroDuration()) return false;
        AddWaiter(reactor, response, caller.tenant_id, response->name(), clock_->Now() + wait,
                  &Settled, created->seen_seq, created->since, &SettledByState);
        return true;
      });
}

grpc::ServerUnaryReactor* CertificateGrpcService::GetCertificateRequest(
    grpc::CallbackServerContext* context, const v1::GetCertificateRequestRequest* request,
    v1::CertificateRequest* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->GetCertificateRequest(caller, *request);
  });
}

grpc::ServerUnaryReactor* CertificateGrpcService::ListCertificateRequests(
    grpc::CallbackServerContext* context, const v1::ListCertificateRequestsRequest* request,
    v1::ListCertificateRequestsResponse* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->ListCertificateRequests(caller, *request);
  });
}

grpc::ServerUnaryReactor* CertificateGrpcService::CancelCertificateRequest(
    grpc::CallbackServerContext* context, const v1::CancelCertificateRequestRequest* request,
    v1::CertificateRequest* response) {
  return ServeUnary(gate_, context, response, [this, request](const Caller& caller) {
    return api_->CancelCertificateRequest(caller, *request);
  });
}

grpc::ServerUnaryReactor* CertificateGrpcService::RevokeCertificate(
    grpc::CallbackServerContext* context, const v1::RevokeCertificateRequest* request,
    v1::CertificateRequest* response) {
  return ServeUnary(
      gate_, context, response,
      [this, request](const Caller& caller) { return api_->RevokeCertificate(caller, *request); },
      // Waits up to kRevokeWait for the agent's answer, unless already REVOKED.
      [this, response](const Caller& caller, grpc::ServerUnaryReactor* reactor) {
        if (response->state() == v1::CertificateRequest::STATE_REVOKED) return false;
        AddWaiter(reactor, response, caller.tenant_id, response->name(),
                  clock_->Now() + kRevokeWait, &RevokeSettled);
        return true;
      });
}

grpc::ServerWriteReactor<v1::CertificateRequestEvent>*
CertificateGrpcService::WatchCertificateRequests(grpc::CallbackServerContext* context,
                                                 const v1::WatchCertificateRequestsRequest* request) {
  return new WatchStream(this, context, request);
}

uint64_t CertificateGrpcService::NotificationCount() {
  absl::MutexLock lock(&mu_);
  return notifications_;
}

void CertificateGrpcService::RequestChanged(const std::string& tenant_id, const std::string& name,
                                            int64_t change_seq, std::optional<RequestState> state) {
  if (name.empty()) state.reset();  // a collapsed record's state would be no one's
  absl::MutexLock lock(&mu_);
  recent_changes_.push_back({++notifications_, tenant_id, name, change_seq, state});
  if (recent_changes_.size() > kRecentChanges) recent_changes_.pop_front();
  auto [wb, we] = waiters_.equal_range(tenant_id);
  for (auto it = wb; it != we; ++it) {
    const WaiterEntry& w = it->second;
    if (!name.empty() && w.name != name) continue;
    // The call already holds this change or a later one of its request (the notification
    // of a write it read itself, e.g. the insert's own, or of a write on this replica whose
    // record RequestRecorded offered it): nothing new to read.
    // A read under way has not raised SeenVersion yet, so it is re-read as before.
    if (!name.empty() && change_seq > 0 && change_seq <= w.call->SeenVersion()) continue;
    // The change left the request in a state that does not settle the call (a create's
    // QUEUED -> DISPATCHED): nothing to read. Safe without a read_again_ because every
    // change of the request is notified on its own, by name with its state or without
    // either (collapsed, a listener's catch-up, an older replica): the change that settles
    // the call wakes it itself, and the read it starts (or the read_again_ it sets on a
    // read under way) begins after that change committed.
    if (!name.empty() && state.has_value() && w.settled_by_state != nullptr &&
        !w.settled_by_state(*state)) {
      continue;
    }
    w.call->Evaluate(false);
  }
  auto [sb, se] = watches_.equal_range(tenant_id);
  for (auto it = sb; it != se; ++it) it->second->Poke();
}

void CertificateGrpcService::RequestRecorded(const CertificateRequestRecord& record) {
  if (record.change_seq <= 0) return;
  std::vector<std::shared_ptr<Waiter>> calls;
  {
    absl::MutexLock lock(&mu_);
    auto [wb, we] = waiters_.equal_range(record.tenant_id);
    for (auto it = wb; it != we; ++it) {
      if (it->second.name == record.name && record.change_seq > it->second.call->SeenVersion()) {
        calls.push_back(it->second.call);
      }
    }
  }
  if (calls.empty()) return;
  // Outside mu_: an answering Offer runs `forget`, which takes it. A call that registers
  // after the lookup above (its create raced this write) is woken by the notification.
  const v1::CertificateRequest state = ToProto(record);
  for (const std::shared_ptr<Waiter>& call : calls) call->Offer(state, record.change_seq);
}

void CertificateGrpcService::Drain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  for (auto& [tenant, waiter] : waiters_) waiter.call->Evaluate(/*force_answer=*/true);
  for (auto& [tenant, stream] : watches_) {
    stream->End(ToGrpcStatusWithDetails(
        ApiError(absl::StatusCode::kUnavailable, "BROKER_DRAINING",
                 "broker is shutting down; reconnect with your last cursor")
            .RetryAfter(absl::Seconds(1))));
  }
}

void CertificateGrpcService::AddWaiter(grpc::ServerUnaryReactor* reactor,
                                       v1::CertificateRequest* response,
                                       const std::string& tenant_id, const std::string& name,
                                       absl::Time deadline,
                                       bool (*settled)(const v1::CertificateRequest&),
                                       int64_t seen_seq, uint64_t since,
                                       bool (*settled_by_state)(RequestState)) {
  Waiter::Hooks hooks;
  hooks.read = [this, tenant_id, name](int64_t* version) -> absl::StatusOr<v1::CertificateRequest> {
    absl::StatusOr<CertificateRequestRecord> r = requests_->GetCertificateRequest(tenant_id, name);
    if (!r.ok()) return r.status();
    *version = r->change_seq;
    return ToProto(*r);
  };
  hooks.settled = settled;
  hooks.forget = [this, tenant_id](Waiter* waiter) { RemoveWaiter(tenant_id, waiter); };
  auto call = std::make_shared<Waiter>(pool_, clock_, reactor, response, deadline, std::move(hooks),
                                       seen_seq);
  bool draining;
  bool read = true;
  {
    absl::MutexLock lock(&mu_);
    draining = draining_;
    // Read on registration only if the request may have changed since `*response` was
    // read. Notifications are recorded (recent_changes_) and waiters looked up under this
    // one lock, so each notification either is in recent_changes_ now or will find this
    // waiter registered: none falls between. A change committed before the read that
    // `seen_seq` comes from is in that record (its number is <= seen_seq); one committed
    // later is notified after the read began, i.e. after `since` was taken, so it is in
    // recent_changes_ with a larger number. Unnamed records (collapsed, or the listener's
    // catch-up after LISTEN was down), and a window longer than recent_changes_ holds,
    // read. seen_seq == 0 (an idempotent repeat, RevokeCertificate) always reads. A named
    // change whose state does not settle the call is passed over, as RequestChanged does:
    // a settling change has a record of its own.
    if (!draining && seen_seq > 0 && notifications_ - since <= recent_changes_.size()) {
      read = false;
      for (auto it = recent_changes_.rbegin(); it != recent_changes_.rend() && it->number > since;
           ++it) {
        if (it->tenant_id == tenant_id &&
            (it->name.empty() ||
             (it->name == name && (it->change_seq > seen_seq || it->change_seq <= 0) &&
              (!it->state.has_value() || settled_by_state == nullptr ||
               settled_by_state(*it->state))))) {
          read = true;
          break;
        }
      }
    }
    waiters_.emplace(tenant_id, WaiterEntry{name, call, settled_by_state});
  }
  // Nothing new to read: later changes wake the call, the ticker ends it at its deadline.
  if (read) call->Evaluate(draining);
}

void CertificateGrpcService::RemoveWaiter(const std::string& tenant_id, Waiter* waiter) {
  absl::MutexLock lock(&mu_);
  auto [b, e] = waiters_.equal_range(tenant_id);
  for (auto it = b; it != e; ++it) {
    if (it->second.call.get() == waiter) {
      waiters_.erase(it);
      return;
    }
  }
}

bool CertificateGrpcService::AddWatch(const std::string& tenant_id, WatchStream* stream) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(watches_.count(tenant_id)) >= limits_.max_watch_streams_per_tenant) {
    return false;
  }
  watches_.emplace(tenant_id, stream);
  metrics_->WatchStreamOpened();
  return true;
}

int CertificateGrpcService::WatchStreamCount() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(watches_.size());
}

void CertificateGrpcService::RemoveWatch(const std::string& tenant_id, WatchStream* stream) {
  absl::MutexLock lock(&mu_);
  auto [b, e] = watches_.equal_range(tenant_id);
  for (auto it = b; it != e; ++it) {
    if (it->second == stream) {
      watches_.erase(it);
      metrics_->WatchStreamClosed();
      return;
    }
  }
}

void CertificateGrpcService::TickerLoop() {
  int ticks = 0;
  while (!stop_ticker_.WaitForNotificationWithTimeout(absl::Seconds(1))) {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (auto& [tenant, waiter] : waiters_) {
      if (waiter.call->deadline() <= now) waiter.call->Evaluate(false);
    }
    // Safety net for a lost notification: Watch streams re-read every 5 s.
    if (++ticks % 5 == 0) {
      for (auto& [tenant, stream] : watches_) stream->Poke();
    }
  }
}

}  // namespace certbridge::broker
