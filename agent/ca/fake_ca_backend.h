// FakeCaBackend: an honest, stateful in-memory CA for unit tests of code that uses
// CaBackend. It follows the emulator's rules for the common cases — template by cn
// (0x80094800 otherwise, 0x80094801 when absent), minimal key size (0x80094811),
// PEND_ALL_REQUESTS (disposition 5 until Approve/Deny), real certificates signed by an
// EC P-256 CA — and has switches for failures:
//
//   ASSIGN_OR_RETURN(auto ca, FakeCaBackend::Create("host\\Fake CA", {{.cn = "WebServer"}}));
//   ca->SetUnavailable(true);   // every call: UNAVAILABLE naming 0x800706BA
//
// Thread-safe.
#ifndef CERTBRIDGE_AGENT_CA_FAKE_CA_BACKEND_H_
#define CERTBRIDGE_AGENT_CA_FAKE_CA_BACKEND_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "agent/ca/ca_backend.h"
#include "common/pki/pki.h"

namespace certbridge::agent {

class FakeCaBackend final : public CaBackend {
 public:
  static absl::StatusOr<std::unique_ptr<FakeCaBackend>> Create(std::string config,
                                                               std::vector<CaTemplate> templates);

  std::string config() const override { return config_; }
  absl::StatusOr<CaResult> Submit(const SubmitParams& params) override;
  absl::StatusOr<CaResult> RetrievePending(const RetrievePendingParams& params) override;
  absl::StatusOr<RevokeResult> Revoke(const RevokeParams& params) override;
  absl::StatusOr<CaChain> GetCaChain(const GetCaChainParams& params) override;
  absl::StatusOr<std::vector<CaTemplate>> ListTemplates(const ListTemplatesParams& params) override;
  absl::StatusOr<PingResult> Ping(const PingParams& params) override;
  absl::StatusOr<CaResult> FindRequestByAttribute(const FindRequestParams& params) override;

  // Failure switches and officer actions.
  void SetUnavailable(bool unavailable);
  // Issues / denies a pending request. NOT_FOUND for an unknown id, FAILED_PRECONDITION
  // when it is not pending.
  absl::Status Approve(int64_t ca_request_id);
  absl::Status Deny(int64_t ca_request_id);
  // Serials revoked so far, with reasons.
  std::map<std::string, int> revoked() const;
  int submit_count() const;
  const std::string& ca_certificate_pem() const { return ca_->certificate().pem; }

 private:
  FakeCaBackend(std::string config, std::vector<CaTemplate> templates,
                std::unique_ptr<pki::SigningCa> ca)
      : config_(std::move(config)), templates_(std::move(templates)), ca_(std::move(ca)) {}
  absl::Status CheckAvailable() const;
  void IssueLocked(CaResult& result, const std::string& csr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string config_;
  const std::vector<CaTemplate> templates_;
  const std::unique_ptr<pki::SigningCa> ca_;

  mutable absl::Mutex mu_;
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
  int submit_count_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, CaResult> requests_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::string> csrs_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::string> attributes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> revoked_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> serials_ ABSL_GUARDED_BY(mu_);  // serial -> request id
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CA_FAKE_CA_BACKEND_H_
