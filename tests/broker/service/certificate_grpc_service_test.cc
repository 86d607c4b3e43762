// CertificateGrpcService in a real in-process gRPC server, against the FakeStore: the
// lifetime of Watch streams when clients leave early, and the per-tenant stream limit.
// (Transport security is beside the point here; the integration tests run over TLS.)
#include "broker/service/certificate_grpc_service.h"

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "broker/store/fake/fake_store.h"
#include "common/clock.h"

namespace certbridge::broker {
namespace {

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
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
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

  FakeClock clock_;
  FakeStore store_;
  WorkerPool pool_{1};
  ApiKeyAuthenticator auth_{&store_, "", &clock_};
  ApiCallGate gate_{&auth_, &pool_, &clock_};
  CertificateApi api_{&store_, &store_, &clock_, CertificateApiOptions()};
  std::unique_ptr<CertificateGrpcService> service_;
  std::unique_ptr<grpc::Server> server_;
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

}  // namespace
}  // namespace certbridge::broker
