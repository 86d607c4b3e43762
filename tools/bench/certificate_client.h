// What certbridge-bench does as an MDM-side client and as an admin: tenants with an API key
// and a CA, CSRs made before the clock starts, CreateCertificateRequest repeated with one
// request_id until the request is terminal, and a ledger of the serials a run issued.
#ifndef CERTBRIDGE_TOOLS_BENCH_CERTIFICATE_CLIENT_H_
#define CERTBRIDGE_TOOLS_BENCH_CERTIFICATE_CLIENT_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certbridge/v1/certificate.grpc.pb.h"
#include "tests/integration/test_stack.h"

namespace certbridge::bench {

// The identity the agents and the raw run submit as, the CA and the template that issues
// at once (agent/emulator/example-config.txtpb).
inline constexpr char kIdentity[] = "CORP\\AGENT01$";
inline constexpr char kCaConfig[] = "adcs01.corp.example\\Corp Issuing CA";
inline constexpr char kTemplate[] = "CertbridgeDevice";

// `count` PEM CSRs for new EC P-256 keys, subjects CN=<prefix>-<i>.
absl::StatusOr<std::vector<std::string>> MakeCsrs(int count, const std::string& prefix);

struct Tenant {
  std::string key;  // admin + certificates scopes
  std::string ca_id;
};

// A new tenant (operator key) with an API key and the emulator's CA.
absl::StatusOr<Tenant> CreateTenant(testing::TestStack& stack, const testing::BrokerProcess& broker);

// Waits (60 s) until the broker shows the connector connected.
absl::Status WaitConnected(testing::TestStack& stack, const testing::BrokerProcess& broker,
                           const Tenant& tenant, const std::string& connector_id);

// A CertificateService client on a channel of its own (a unique channel argument keeps
// gRPC from sharing a subchannel with another channel), reconnecting fast after the broker
// dies so that the recovery figure measures the broker and agents, not gRPC's default 1 s+
// reconnect backoff.
std::unique_ptr<v1::CertificateService::Stub> CertificateClient(const std::string& tls_root_pem,
                                                                const std::string& address);

// Where and as whom the MDM-side client calls.
struct ClientConfig {
  std::string tls_root_pem;
  std::string address;  // the broker's API port
  std::string api_key;
  bool verbose = false;  // print every retried error
};

struct Outcome {
  v1::CertificateRequest request;  // the last answer
  std::string error;               // why there is no terminal answer
  absl::Time last_attempt_start;   // of the attempt that got the terminal answer
};

// What an MDM-side client does: CreateCertificateRequest with one request_id, repeated
// (the call is idempotent on request_id) until the request is terminal or `budget` runs out.
// `shared` serves the first attempt; after a failed call the retries go over a channel of
// their own.
Outcome CreateUntilTerminal(v1::CertificateService::Stub& shared, const ClientConfig& client,
                            const v1::CreateCertificateRequestRequest& request,
                            absl::Duration budget);

// Whether the call ended with the request ISSUED.
bool Issued(const Outcome& outcome);

v1::CreateCertificateRequestRequest CsrRequest(const Tenant& tenant, const std::string& id,
                                               const std::string& csr);

// Issued serials of one run, to count duplicates and requests not issued. Thread-safe.
class IssuedLedger {
 public:
  void Record(int index, const Outcome& outcome);
  int duplicates() const;
  int not_issued() const;
  // The first few errors, to stderr.
  void PrintErrors() const;

 private:
  mutable absl::Mutex mu_;
  std::set<std::string> serials_ ABSL_GUARDED_BY(mu_);
  int duplicates_ ABSL_GUARDED_BY(mu_) = 0;
  int not_issued_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> first_errors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_CERTIFICATE_CLIENT_H_
