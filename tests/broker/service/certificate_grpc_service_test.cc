// CertificateGrpcService in a real in-process gRPC server, against the FakeStore: the
// lifetime of Watch streams when clients leave early, and the per-tenant stream limit.
// (Transport security is beside the point here; the integration tests run over TLS.)
#include "broker/service/certificate_grpc_service.h"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "broker/store/fake/fake_store.h"
#include "broker/store/record_publishing_certificate_store.h"
#include "common/clock.h"
#include "common/pki/pki.h"

namespace certbridge::broker {
namespace {

// The FakeStore, counting the waiting calls' reads (GetCertificateRequest), and able to
// run a hook right after an insert, before CertificateApi::Create returns: a change that
// another thread commits and notifies between the insert and the call's registration.
class CountingStore : public FakeStore {
 public:
  absl::StatusOr<CertificateRequestRecord> GetCertificateRequest(
      const std::string& tenant_id, const std::string& name) override {
    reads_.fetch_add(1);
    return FakeStore::GetCertificateRequest(tenant_id, name);
  }
  absl::StatusOr<CreateRequestResult> CreateCertificateRequest(
      const CertificateRequestRecord& request, const JobRecord& first_job) override {
    absl::StatusOr<CreateRequestResult> result =
        FakeStore::CreateCertificateRequest(request, first_job);
    if (result.ok() && after_insert_) after_insert_(result->request);
    return result;
  }
  int reads() const { return reads_.load(); }
  std::function<void(const CertificateRequestRecord&)> after_insert_;

 private:
  std::atomic<int> reads_{0};
};

class CertificateGrpcServiceTest : public ::testing::Test {
 protected:
  void StartServer(CertificateServiceLimits limits) {
    EXPECT_TRUE(store_.CreateTenant({"t-1", "Tenant one", clock_.Now()}).ok());
    key_ = GenerateApiKey();
    ApiKeyRecord record;
    record.key_id = key_.key_id;
    record.tenant_id = "t-1";
    record.secret_hash = key_.secret_hash;
    record.scopes = {"certificates"};
    EXPECT_TRUE(store_.CreateApiKey(record).ok());

    service_ = std::make_unique<CertificateGrpcService>(&api_, &store_, &gate_, &pool_, &clock_,
                                                        limits);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    server_address_ = "127.0.0.1:" + std::to_string(port);
    channel_ = grpc::CreateChannel(server_address_, grpc::InsecureChannelCredentials());
    stub_ = v1::CertificateService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    pool_.Shutdown();
  }

  // Holds the pool's only thread until the returned notification is notified, so that
  // work posted by new streams (their Start) waits behind it.
  std::shared_ptr<absl::Notification> BlockPool() {
    auto release = std::make_shared<absl::Notification>();
    auto blocked = std::make_shared<absl::Notification>();
    pool_.Post([release, blocked] {
      blocked->Notify();
      release->WaitForNotification();
    });
    blocked->WaitForNotification();
    return release;
  }

  // Every task posted before this call has run.
  void WaitForPool() {
    absl::Notification done;
    pool_.Post([&done] { done.Notify(); });
    done.WaitForNotification();
  }

  // A round trip on the same connection: the server's transport has read every frame the
  // client sent before it (the cancellations), in HTTP/2 order.
  void RoundTrip() {
    grpc::ClientContext list_context;
    list_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    list_context.AddMetadata("authorization", "Bearer " + key_.full_key);
    v1::ListCertificateRequestsRequest list;
    v1::ListCertificateRequestsResponse out;
    ASSERT_TRUE(stub_->ListCertificateRequests(&list_context, list, &out).ok());
  }

  bool WaitForWatchCount(int want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      WaitForPool();
      if (service_->WatchStreamCount() == want) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return service_->WatchStreamCount() == want;
  }

  // Issues the request's job in the store (claim, then complete as ISSUED), as an agent
  // would through any replica; returns the ISSUED record's change_seq. Notifies nobody.
  int64_t IssueInStore(const std::string& name) {
    const std::optional<JobRecord> job = DispatchInStore();
    if (!job.has_value()) return 0;
    return CompleteInStore(*job, name, RequestState::kIssued);
  }

  // Claims the one READY job: its request becomes DISPATCHED.
  std::optional<JobRecord> DispatchInStore() {
    ClaimParams claim;
    claim.tenant_id = "t-1";
    claim.connector_id = "c-1";
    claim.ca_identity = "CORP\\svc";
    claim.ca_ids = {"ca-1"};
    claim.limit = 1;
    claim.per_ca_limit = 1;
    claim.now = clock_.Now();
    claim.lease_until = clock_.Now() + absl::Minutes(5);
    absl::StatusOr<std::vector<JobRecord>> claimed = store_.ClaimJobs(claim);
    EXPECT_TRUE(claimed.ok() && claimed->size() == 1u);
    if (!claimed.ok() || claimed->size() != 1u) return std::nullopt;
    return (*claimed)[0];
  }

  // Completes `job` leaving its request `name` in `state`; returns that change's number.
  int64_t CompleteInStore(const JobRecord& job, const std::string& name, RequestState state) {
    JobCompletion done;
    done.job_id = job.job_id;
    done.tenant_id = "t-1";
    done.now = clock_.Now();
    done.request = *store_.FakeStore::GetCertificateRequest("t-1", name);
    done.request.state = state;
    EXPECT_TRUE(store_.CompleteJob(done).ok());
    return store_.FakeStore::GetCertificateRequest("t-1", name)->change_seq;
  }

  void CreateCa() {
    CertificateAuthorityRecord ca;
    ca.ca_id = "ca-1";
    ca.tenant_id = "t-1";
    ca.host = "adcs01.corp.example";
    ca.ca_name = "Corp Issuing CA";
    ca.create_time = clock_.Now();
    ASSERT_TRUE(store_.CreateCertificateAuthority(ca).ok());
  }

  // A CreateCertificateRequest that waits, made by StartWaitingCreate.
  struct WaitingCall {
    grpc::ClientContext context;
    v1::CreateCertificateRequestRequest request;
    v1::CertificateRequest response;
    absl::Notification answered;
    grpc::Status status;
  };

  // Starts `call` (WaitingCreate(request_id)) and returns the request it inserted, once the
  // call has registered as a waiter: the request exists once the create ran on the pool, and
  // the registration runs in the same pool task, so it is done once the pool has run what
  // was posted before WaitForPool.
  absl::StatusOr<CertificateRequestRecord> StartWaitingCreate(WaitingCall* call,
                                                              const std::string& request_id) {
    call->context.AddMetadata("authorization", "Bearer " + key_.full_key);
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    call->request = WaitingCreate(request_id);
    stub_->async()->CreateCertificateRequest(&call->context, &call->request, &call->response,
                                             [call](grpc::Status s) {
                                               call->status = std::move(s);
                                               call->answered.Notify();
                                             });
    absl::StatusOr<CertificateRequestRecord> inserted = absl::NotFoundError(request_id);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!inserted.ok() && absl::Now() < deadline) {
      inserted = store_.FakeStore::GetCertificateRequestByRequestId("t-1", request_id);
      if (!inserted.ok()) absl::SleepFor(absl::Milliseconds(2));
    }
    if (inserted.ok()) WaitForPool();
    return inserted;
  }

  v1::CreateCertificateRequestRequest WaitingCreate(const std::string& request_id) {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    EXPECT_TRUE(key.ok());
    auto csr = pki::CreateCsrPem(*key, {.subject = "CN=device"});
    EXPECT_TRUE(csr.ok());
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(request_id);
    r.set_ca_id("ca-1");
    r.set_template_name("WebServer");
    r.set_csr_pem(*csr);
    r.mutable_wait_timeout()->set_seconds(60);
    return r;
  }

  FakeClock clock_;
  CountingStore store_;
  WorkerPool pool_{1};
  ApiKeyAuthenticator auth_{&store_, "", &clock_};
  ApiCallGate gate_{&auth_, &pool_, &clock_};
  CertificateApi api_{&store_, &store_, &clock_, CertificateApiOptions()};
  std::unique_ptr<CertificateGrpcService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string server_address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CertificateService::Stub> stub_;
  NewApiKey key_;
};

// Before the fix, a stream cancelled before its pooled Start ran was registered by Start
// after gRPC had called OnDone, and freed: a dangling pointer in watches_ that the next
// change notification dereferenced (use-after-free).
TEST_F(CertificateGrpcServiceTest, WatchCancelledBeforeStartIsNeverRegistered) {
  StartServer({});
  constexpr int kStreams = 20;
  {
    std::shared_ptr<absl::Notification> release = BlockPool();
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<std::unique_ptr<grpc::ClientReader<v1::CertificateRequestEvent>>> readers;
    for (int i = 0; i < kStreams; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      contexts.back()->AddMetadata("authorization", "Bearer " + key_.full_key);
      v1::WatchCertificateRequestsRequest request;
      readers.push_back(stub_->WatchCertificateRequests(contexts.back().get(), request));
    }
    for (auto& context : contexts) context->TryCancel();
    for (auto& reader : readers) {
      EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
    }
    release->Notify();
  }
  RoundTrip();
  EXPECT_TRUE(WaitForWatchCount(0)) << service_->WatchStreamCount() << " streams left registered";
  // A notification reaches only live streams (under ASan a freed one would be reported).
  service_->RequestChanged("t-1", "");
  WaitForPool();
}

TEST_F(CertificateGrpcServiceTest, WatchStreamsPerTenantAreCapped) {
  StartServer({.max_watch_streams_per_tenant = 2});
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::CertificateRequestEvent>>> readers;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->AddMetadata("authorization", "Bearer " + key_.full_key);
    readers.push_back(stub_->WatchCertificateRequests(contexts.back().get(), {}));
  }
  ASSERT_TRUE(WaitForWatchCount(2));

  grpc::ClientContext third;
  third.AddMetadata("authorization", "Bearer " + key_.full_key);
  third.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  auto reader = stub_->WatchCertificateRequests(&third, {});
  v1::CertificateRequestEvent event;
  EXPECT_FALSE(reader->Read(&event));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();

  for (auto& context : contexts) context->TryCancel();
  for (auto& r : readers) r->Finish();
  EXPECT_TRUE(WaitForWatchCount(0));
}

// A Watch from cursor 0 used to read the tenant's whole history into the broker's memory,
// whether or not the client read it. Now it reads one batch, and the next only when the
// client has taken it.
TEST_F(CertificateGrpcServiceTest, WatchReadsTheHistoryOnlyAsFastAsTheClientTakesIt) {
  StartServer({});
  CreateCa();
  Caller caller;
  caller.tenant_id = "t-1";
  caller.key_id = key_.key_id;
  caller.scopes = {"certificates"};
  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  auto csr = pki::CreateCsrPem(*key, {.subject = "CN=device"});
  ASSERT_TRUE(csr.ok());
  constexpr int kChanges = 2000;  // 20 batches of the Watch's 100 events
  for (int i = 0; i < kChanges; ++i) {
    v1::CreateCertificateRequestRequest r;
    r.set_request_id(absl::StrCat("history-", i));
    r.set_ca_id("ca-1");
    r.set_template_name("WebServer");
    r.set_csr_pem(*csr);
    ASSERT_TRUE(api_.Create(caller, r).ok());
  }

  // Store calls while the stream runs, once they have stopped for a while.
  auto settled_calls = [this](int64_t since) {
    int64_t last = -1;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      WaitForPool();
      absl::SleepFor(absl::Milliseconds(300));  // no call for this long: the stream waits
      const int64_t now = store_.call_count();
      if (now == last) break;
      last = now;
    }
    return last - since;
  };

  const int64_t before = store_.call_count();
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + key_.full_key);
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::WatchCertificateRequestsRequest from_start;
  from_start.set_cursor("0");
  // A client whose transport takes no more than the application reads (no BDP growth of
  // the window), like one whose TCP receive window is full.
  grpc::ChannelArguments stingy;
  stingy.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  stingy.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  auto stub = v1::CertificateService::NewStub(grpc::CreateCustomChannel(
      server_address_, grpc::InsecureChannelCredentials(), stingy));
  auto reader = stub->WatchCertificateRequests(&context, from_start);
  ASSERT_TRUE(WaitForWatchCount(1));
  const int64_t unread_calls = settled_calls(before);
  // What the transport's flow-control windows (128 KiB here) hold: a few batches, how many
  // depends on the events' size (about 6 batches of ~200-byte events today). A stream that
  // read ahead of its client would read all 20 batches of the history.
  EXPECT_LE(unread_calls, 10) << "store calls while the client read nothing";

  v1::CertificateRequestEvent event;
  int64_t previous = 0;
  int received = 0;
  while (received < kChanges && reader->Read(&event)) {
    int64_t cursor = 0;
    ASSERT_TRUE(absl::SimpleAtoi(event.cursor(), &cursor));
    EXPECT_GT(cursor, previous);
    previous = cursor;
    ++received;
  }
  EXPECT_EQ(received, kChanges);
  EXPECT_GE(store_.call_count() - before, kChanges / 100) << "one read per batch";
  context.TryCancel();
  reader->Finish();
}

// Issue 10: a request that goes QUEUED -> DISPATCHED -> ISSUED before the client reads
// is reported as three events in that order, not as one event with the final state; and a
// cursor whose change the retention removed ends the stream with FAILED_PRECONDITION.
TEST_F(CertificateGrpcServiceTest, WatchReportsEveryTransitionAndRefusesAnExpiredCursor) {
  StartServer({});
  CreateCa();
  Caller caller;
  caller.tenant_id = "t-1";
  caller.key_id = key_.key_id;
  caller.scopes = {"certificates"};
  auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  auto csr = pki::CreateCsrPem(*key, {.subject = "CN=device"});
  ASSERT_TRUE(csr.ok());
  v1::CreateCertificateRequestRequest r;
  r.set_request_id("every-state");
  r.set_ca_id("ca-1");
  r.set_template_name("WebServer");
  r.set_csr_pem(*csr);
  absl::StatusOr<CertificateRequestRecord> created = api_.Create(caller, r);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_GT(IssueInStore(created->name), created->change_seq);

  auto watch = [this](const std::string& cursor, std::unique_ptr<grpc::ClientContext>* context) {
    *context = std::make_unique<grpc::ClientContext>();
    (*context)->AddMetadata("authorization", "Bearer " + key_.full_key);
    (*context)->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::WatchCertificateRequestsRequest request;
    request.set_cursor(cursor);
    return stub_->WatchCertificateRequests(context->get(), request);
  };
  std::unique_ptr<grpc::ClientContext> context;
  auto reader = watch("0", &context);
  std::vector<v1::CertificateRequest::State> states;
  std::string first_cursor;
  v1::CertificateRequestEvent event;
  while (states.size() < 3 && reader->Read(&event)) {
    if (first_cursor.empty()) first_cursor = event.cursor();
    EXPECT_EQ(event.certificate_request().name(), created->name);
    states.push_back(event.certificate_request().state());
  }
  EXPECT_EQ(states, (std::vector<v1::CertificateRequest::State>{
                        v1::CertificateRequest::STATE_QUEUED,
                        v1::CertificateRequest::STATE_DISPATCHED,
                        v1::CertificateRequest::STATE_ISSUED}));
  context->TryCancel();
  reader->Finish();

  // The retention removes every change (the fake clock has not moved: all are "older" than
  // a minute from now).
  ASSERT_EQ(*store_.DeleteRequestChangesBefore(clock_.Now() + absl::Minutes(1), 100), 3);
  auto expired = watch(first_cursor, &context);
  while (expired->Read(&event)) {
  }
  grpc::Status status = expired->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("list the certificate requests again"),
            std::string::npos)
      << status.error_message();
}

// A waiting create registers without reading the request it just inserted, is not re-read
// for the notification of that insert, nor for a change whose state cannot settle it
// (DISPATCHED), reads for a change of unknown state (a replica that does not send it), and
// is answered by the notification of the settling change (issue 9: reads per certificate).
TEST_F(CertificateGrpcServiceTest, WaitingCreateReadsOnlyForAChangeThatMaySettleIt) {
  StartServer({});
  CreateCa();
  WaitingCall call;
  const absl::StatusOr<CertificateRequestRecord> inserted = StartWaitingCreate(&call, "waits");
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_EQ(store_.reads(), 0);

  // The insert's own notification (as the listener delivers it, after the registration).
  service_->RequestChanged("t-1", inserted->name, inserted->change_seq, RequestState::kQueued);
  WaitForPool();
  EXPECT_EQ(store_.reads(), 0);
  EXPECT_FALSE(call.answered.HasBeenNotified());

  const std::optional<JobRecord> job = DispatchInStore();
  ASSERT_TRUE(job.has_value());
  const int64_t dispatched_seq =
      store_.FakeStore::GetCertificateRequest("t-1", inserted->name)->change_seq;
  ASSERT_GT(dispatched_seq, inserted->change_seq);
  service_->RequestChanged("t-1", inserted->name, dispatched_seq, RequestState::kDispatched);
  WaitForPool();
  EXPECT_EQ(store_.reads(), 0);
  EXPECT_FALSE(call.answered.HasBeenNotified());
  // The same change from a replica that does not send the state: read, still waiting.
  service_->RequestChanged("t-1", inserted->name, dispatched_seq, std::nullopt);
  WaitForPool();
  EXPECT_EQ(store_.reads(), 1);
  EXPECT_FALSE(call.answered.HasBeenNotified());

  const int64_t issued_seq = CompleteInStore(*job, inserted->name, RequestState::kIssued);
  ASSERT_GT(issued_seq, dispatched_seq);
  service_->RequestChanged("t-1", inserted->name, issued_seq, RequestState::kIssued);
  ASSERT_TRUE(call.answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(call.response.state(), v1::CertificateRequest::STATE_ISSUED);
  EXPECT_EQ(store_.reads(), 2);
}

// A change committed and notified between the insert and the waiting call's registration
// (before the call is in the waiter map) is not lost: the registration sees it in the
// recent notifications, reads, and answers with the settled state at once.
TEST_F(CertificateGrpcServiceTest, WaitingCreateReadsAChangeNotifiedBeforeItRegistered) {
  StartServer({});
  CreateCa();
  store_.after_insert_ = [this](const CertificateRequestRecord& r) {
    const int64_t seq = IssueInStore(r.name);
    service_->RequestChanged("t-1", r.name, seq);
  };
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + key_.full_key);
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  const v1::CreateCertificateRequestRequest request = WaitingCreate("raced");
  v1::CertificateRequest response;
  grpc::Status status = stub_->CreateCertificateRequest(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.state(), v1::CertificateRequest::STATE_ISSUED);
  EXPECT_EQ(store_.reads(), 1);
}

// On the replica that wrote the settling change, the waiting create answers from the record
// the write returned (RecordPublishingCertificateStore -> RequestRecorded): no read, and no
// wait for the notification, which arrives later and then costs nothing. A record of another
// tenant's request with the same name, or one the call already holds, answers nothing
// (issue 9).
TEST_F(CertificateGrpcServiceTest, WaitingCreateAnswersFromARecordWrittenOnThisReplica) {
  // Forwards written records at once and keeps the store's notifications back, as the
  // NOTIFY round trip through PostgreSQL would.
  class DelayedNotifications final : public ChangeListener {
   public:
    explicit DelayedNotifications(CertificateGrpcService* service) : service_(service) {}
    void OnJobsReady(const std::string&, const std::string&) override {}
    void OnRequestChanged(const std::string& tenant_id, const std::string& name,
                          int64_t change_seq, std::optional<RequestState> state) override {
      absl::MutexLock lock(&mu_);
      held_.push_back({tenant_id, name, change_seq, state});
    }
    void OnRequestRecord(const CertificateRequestRecord& record) override {
      service_->RequestRecorded(record);
    }
    // Delivers the notifications held so far; returns how many.
    int Deliver() {
      std::vector<Held> held;
      {
        absl::MutexLock lock(&mu_);
        held.swap(held_);
      }
      for (const Held& h : held) service_->RequestChanged(h.tenant_id, h.name, h.seq, h.state);
      return static_cast<int>(held.size());
    }

   private:
    struct Held {
      std::string tenant_id, name;
      int64_t seq;
      std::optional<RequestState> state;
    };
    CertificateGrpcService* service_;
    absl::Mutex mu_;
    std::vector<Held> held_ ABSL_GUARDED_BY(mu_);
  };

  StartServer({});
  CreateCa();
  RecordPublishingCertificateStore written(&store_);
  DelayedNotifications listener(service_.get());
  written.SetChangeListener(&listener);

  WaitingCall call;
  const absl::StatusOr<CertificateRequestRecord> inserted =
      StartWaitingCreate(&call, "written-here");
  ASSERT_TRUE(inserted.ok()) << inserted.status();

  // Not this call's: another tenant's request of the same name, and a copy of the change
  // the call already holds (its insert), both settled.
  CertificateRequestRecord foreign = *inserted;
  foreign.tenant_id = "t-2";
  foreign.state = RequestState::kIssued;
  foreign.change_seq = inserted->change_seq + 100;
  service_->RequestRecorded(foreign);
  CertificateRequestRecord held = *inserted;
  held.state = RequestState::kIssued;
  service_->RequestRecorded(held);
  WaitForPool();
  EXPECT_FALSE(call.answered.HasBeenNotified());

  const std::optional<JobRecord> job = DispatchInStore();
  ASSERT_TRUE(job.has_value());
  JobCompletion done;
  done.job_id = job->job_id;
  done.tenant_id = "t-1";
  done.now = clock_.Now();
  done.request = *store_.FakeStore::GetCertificateRequest("t-1", inserted->name);
  done.request.state = RequestState::kIssued;
  done.request.serial_hex = "0a1b";
  absl::StatusOr<CertificateRequestRecord> issued = written.CompleteJob(done);
  ASSERT_TRUE(issued.ok()) << issued.status();
  // Answered on this (the writer's) thread, before any notification was delivered.
  ASSERT_TRUE(call.answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(call.response.state(), v1::CertificateRequest::STATE_ISSUED);
  EXPECT_EQ(call.response.serial_number(), "0a1b");
  EXPECT_EQ(store_.reads(), 0);

  // The notifications (insert, dispatch, issue) arrive: nothing to read, nobody to answer.
  EXPECT_EQ(listener.Deliver(), 3);
  WaitForPool();
  EXPECT_EQ(store_.reads(), 0);
  written.SetChangeListener(nullptr);
}

}  // namespace
}  // namespace certbridge::broker
