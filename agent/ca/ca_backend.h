// CaBackend: everything the agent asks of a Microsoft CA, behind one seam.
//
// Implementations, named after their technology:
// - EmulatorCaBackend (agent/ca/emulator_ca_backend.h): gRPC client of adcs-emulator.
// - ComCaBackend (agent/ca/com_ca_backend.h, Windows only): ICertRequest2 + ICertAdmin2.
// - FakeCaBackend (agent/ca/fake_ca_backend.h): honest in-memory CA for unit tests.
//
//   ASSIGN_OR_RETURN(CaResult r, backend.Submit({.csr_pem = csr,
//                                                .attributes = "CertificateTemplate:WebServer"}));
//   if (r.disposition == adcs::kDispositionIssued) Deliver(r.certificate_pem, r.chain_pem);
//   else if (r.disposition == adcs::kDispositionUnderSubmission) ScheduleRetrieve(r.ca_request_id);
//   else Fail(adcs::CodeFor(r.disposition, r.hresult), r.disposition_message);
//
// Errors. A CA answer, even a denial, is a successful call: the StatusOr holds a CaResult
// with the disposition and HRESULT (as ICertRequest::Submit returns S_OK with a
// disposition). absl errors mean the call did not reach a CA answer:
// - UNAVAILABLE: the CA could not be reached (RPC_S_SERVER_UNAVAILABLE 0x800706BA, named
//   in the message) or the call timed out. Retry the call later. For Submit the CA may
//   still have issued (lost answer): see the broker's journal.
// - DEADLINE_EXCEEDED: the call's deadline passed; treat as UNAVAILABLE for Submit.
// - INVALID_ARGUMENT: the params are malformed (never sent to the CA).
// Revoke follows the same rule: the CA refusing it (unknown serial 0x80094004, wrong state
// 0x80094003, no officer right 0x80070005) is an OK StatusOr with RevokeResult.hresult set.
//
// Thread-safety: implementations are thread-safe; calls may run concurrently and block
// (run them on a worker pool, never on a gRPC reactor thread).
#ifndef CERTBRIDGE_AGENT_CA_CA_BACKEND_H_
#define CERTBRIDGE_AGENT_CA_CA_BACKEND_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace certbridge::agent {

// What the CA answered to Submit or RetrievePending.
struct CaResult {
  int disposition = 0;            // CR_DISP_* (adcs::kDisposition...)
  int64_t ca_request_id = 0;      // the CA's request id; 0 if the CA logged nothing
  uint32_t hresult = 0;           // GetLastStatus; 0 when issued or pending
  std::string disposition_message;  // GetDispositionMessage, verbatim
  std::string certificate_pem;    // when ISSUED (3) or REVOKED (6)
  std::string chain_pem;          // issuing CA chain, issuer first; may be empty
};

struct SubmitParams {
  std::string csr_pem;     // PKCS#10, PEM (DER is accepted by the emulator too)
  std::string attributes;  // "CertificateTemplate:<cn>\nSAN:upn=...&dns=..."
  absl::Duration timeout = absl::Seconds(60);
};

struct RetrievePendingParams {
  int64_t ca_request_id = 0;
  absl::Duration timeout = absl::Seconds(30);
};

struct RevokeParams {
  std::string serial_hex;
  int reason = 0;  // CRL reason: 0-6, 8; -1 (0xFFFFFFFF) releases a hold
  absl::Duration timeout = absl::Seconds(30);
};

struct RevokeResult {
  uint32_t hresult = 0;  // 0 = revoked (or hold released)
  std::string message;   // the CA's words when hresult != 0
};

struct GetCaChainParams {
  absl::Duration timeout = absl::Seconds(30);
};

struct CaChain {
  std::vector<std::string> certificates_pem;  // CA certificate first, root last
};

struct ListTemplatesParams {
  absl::Duration timeout = absl::Seconds(30);
};

struct CaTemplate {
  std::string cn;
  std::string display_name;  // empty when the backend cannot know it (COM: CR_PROP_TEMPLATES)
  std::string oid;
  uint32_t minimal_key_size = 0;  // 0 when unknown
  uint32_t name_flags = 0;
  uint32_t enrollment_flags = 0;
};

// A request attribute to look for among the caller's own requests, e.g.
// {.name = "CertbridgeRequestId", .value = "tenants/t/certificateRequests/r"}.
struct FindRequestParams {
  std::string attribute_name;
  std::string attribute_value;
  absl::Duration timeout = absl::Seconds(30);
};

struct PingParams {
  absl::Duration timeout = absl::Seconds(10);
};

struct PingResult {
  std::string config;  // "host\\CA name" as the CA reports it
  absl::Duration round_trip;
};

class CaBackend {
 public:
  virtual ~CaBackend() = default;

  // The CA config string this backend talks to, "host\\CA name".
  virtual std::string config() const = 0;

  virtual absl::StatusOr<CaResult> Submit(const SubmitParams& params) = 0;
  // Answers the request's current state: 5 while pending, 3 with the certificate once an
  // officer issued it, 2 when denied; disposition 1 with 0x80094004 for an unknown id and
  // with 0x80070005 when the request belongs to another identity.
  virtual absl::StatusOr<CaResult> RetrievePending(const RetrievePendingParams& params) = 0;
  virtual absl::StatusOr<RevokeResult> Revoke(const RevokeParams& params) = 0;
  virtual absl::StatusOr<CaChain> GetCaChain(const GetCaChainParams& params) = 0;
  virtual absl::StatusOr<std::vector<CaTemplate>> ListTemplates(
      const ListTemplatesParams& params) = 0;
  virtual absl::StatusOr<PingResult> Ping(const PingParams& params) = 0;
  // The newest request this identity submitted whose attribute `attribute_name` equals
  // `attribute_value`, answered as RetrievePending would (certificate included once
  // issued). NOT_FOUND when there is none: the CA never logged such a request, so it is
  // safe to submit it. UNIMPLEMENTED where the backend cannot search. FAILED_PRECONDITION
  // when the CA refused the search (ComCaBackend: no Read right on the CA): do not submit.
  // Other errors as above.
  virtual absl::StatusOr<CaResult> FindRequestByAttribute(const FindRequestParams& params) = 0;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CA_CA_BACKEND_H_
