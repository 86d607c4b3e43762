// ComCaBackend: CaBackend over ICertRequest2 / ICertAdmin2 (the production backend on a
// domain-joined Windows Server). The COM work is in ComCertClient (com_cert_client.h, plain
// C++17); this adapter turns its answers into CaResult / absl::Status and is compiled on
// every platform, so its mapping is unit-tested on Linux with a fake ComCertClient.
//
// Mapping:
// - RPC-level HRESULTs 0x800706xx (0x800706BA server unavailable, 0x800706BE call failed,
//   0x800706D9 no endpoints) -> UNAVAILABLE naming the HRESULT. Retry later.
// - Any other failing COM call (e.g. Submit returning 0x80094011) is a CA answer: a
//   CaResult with that HRESULT and disposition 2 (DENIED) for permission/policy HRESULTs,
//   1 (ERROR) otherwise.
// - FindRequestByAttribute: ICertView2 on the Request Attributes table (ComCertClient::
//   FindRequestIdsByAttribute), then RetrievePending of each id, newest first; a request
//   RetrievePending refuses with 0x80070005 (another identity's) is skipped. A view the CA
//   refuses is FAILED_PRECONDITION (with the Read-right remedy for 0x80070005).
// - chain_pem is the CA certificate (GetCACertificate, fetched once); the PKCS#7 chain of
//   GetCertificate(CR_OUT_CHAIN) is not converted (no PKCS#7 parser in common/pki yet).
// Deadlines in params are NOT enforced: a COM call cannot be cancelled; DCOM's own
// timeouts apply. Thread-safe (ComCertClient serializes on its apartment thread).
#ifndef CERTBRIDGE_AGENT_CA_COM_CA_BACKEND_H_
#define CERTBRIDGE_AGENT_CA_COM_CA_BACKEND_H_

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "agent/ca/ca_backend.h"
#include "agent/ca/com_cert_client.h"

namespace certbridge::agent {

class ComCaBackend final : public CaBackend {
 public:
  explicit ComCaBackend(std::unique_ptr<ComCertClient> client) : client_(std::move(client)) {}

#ifdef _WIN32
  // Starts COM for `config` ("HOST\\CA name"). UNAVAILABLE naming the HRESULT when the
  // CertCli COM classes cannot be created.
  static absl::StatusOr<std::unique_ptr<ComCaBackend>> Create(const std::string& config);
#endif

  std::string config() const override { return client_->config(); }
  absl::StatusOr<CaResult> Submit(const SubmitParams& params) override;
  absl::StatusOr<CaResult> RetrievePending(const RetrievePendingParams& params) override;
  absl::StatusOr<RevokeResult> Revoke(const RevokeParams& params) override;
  absl::StatusOr<CaChain> GetCaChain(const GetCaChainParams& params) override;
  absl::StatusOr<std::vector<CaTemplate>> ListTemplates(const ListTemplatesParams& params) override;
  absl::StatusOr<PingResult> Ping(const PingParams& params) override;
  absl::StatusOr<CaResult> FindRequestByAttribute(const FindRequestParams& params) override;

 private:
  absl::StatusOr<CaResult> ToResult(const ComAnswer& answer);
  absl::StatusOr<std::string> CaCertificatePem();

  const std::unique_ptr<ComCertClient> client_;
  absl::Mutex mu_;
  std::string ca_pem_ ABSL_GUARDED_BY(mu_);
};

// "-----BEGIN CERTIFICATE-----\n" + base64 in 64-column lines + footer. Whitespace in
// `base64` is dropped.
std::string Base64ToPem(absl::string_view base64, absl::string_view label = "CERTIFICATE");
// The base64 body of a PEM block (headers and whitespace removed). INVALID_ARGUMENT when
// there is no PEM block.
absl::StatusOr<std::string> PemToBase64(absl::string_view pem);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CA_COM_CA_BACKEND_H_
