// AgentPolicyState: the facts AgentPolicy decides on that live on disk, in the state dir:
//
//   DIR/                            0700 (state_dir/policy)
//     issued/<SERIAL>               0600  one file per certificate issued through this
//                                         agent (serial as adcs::NormalizeSerialNumber
//                                         writes it); holds the request name
//     delivery-certificate.sha256   0600  the pinned SHA-256 fingerprint of the tenant's
//                                         delivery certificate (64 lower-case hex digits)
//
// Files are written atomically (durable_files.h). The pin is read from disk on every call,
// so `certbridge-agent trust-delivery-certificate` takes effect without a restart.
// Certificates issued before the agent kept this record are not in it: revoking them needs
// --allow-revoke-any (docs/agent.md).
//
// Errors: INTERNAL / PERMISSION_DENIED for I/O (message names the file); DATA_LOSS for a
// pin file that does not hold a fingerprint; INVALID_ARGUMENT for a serial or fingerprint
// that does not parse. Thread-safe (files only, no cached state).
#ifndef CERTBRIDGE_AGENT_JOBS_AGENT_POLICY_STATE_H_
#define CERTBRIDGE_AGENT_JOBS_AGENT_POLICY_STATE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::agent {

class AgentPolicyState {
 public:
  // Creates DIR and DIR/issued (0700) if needed. FAILED_PRECONDITION if DIR is readable
  // by others.
  static absl::StatusOr<std::unique_ptr<AgentPolicyState>> Open(std::string dir);

  const std::string& dir() const { return dir_; }

  // Remembers that the certificate with `serial` was issued through this agent.
  absl::Status RecordIssued(absl::string_view serial, absl::string_view request_name);
  // Whether `serial` (any spelling NormalizeSerialNumber accepts) was recorded.
  absl::StatusOr<bool> WasIssuedHere(absl::string_view serial) const;

  // The pinned fingerprint; nullopt when none is pinned yet.
  absl::StatusOr<std::optional<std::string>> PinnedDeliveryCertificate() const;
  // Pins `sha256` (any spelling NormalizeSha256Fingerprint accepts), replacing a pin.
  absl::Status PinDeliveryCertificate(absl::string_view sha256);

  // At registration (`certbridge-agent register`), with what the broker's approval carried
  // (GetRegistrationResponse.delivery_certificate_sha256 / _pem):
  //   - a certificate: pins its fingerprint, replacing any pin of an earlier registration.
  //     INVALID_ARGUMENT, nothing pinned, when the PEM does not parse or its fingerprint
  //     is not `sha256` (a damaged or tampered answer).
  //   - neither (the tenant had no delivery certificate at approval): removes a pin left
  //     by an earlier registration; the first key-generation job then pins the one it
  //     carries (trust on first use, logged).
  // Returns the pinned fingerprint (64 lower-case hex digits); nullopt when none.
  absl::StatusOr<std::optional<std::string>> PinAtRegistration(absl::string_view sha256,
                                                               absl::string_view certificate_pem);

  std::string PinPath() const;

 private:
  explicit AgentPolicyState(std::string dir) : dir_(std::move(dir)) {}

  const std::string dir_;
};

// The fingerprint a delivery certificate is pinned by: SHA-256 of its DER, 64 lower-case
// hex digits. INVALID_ARGUMENT when the PEM does not parse.
absl::StatusOr<std::string> DeliveryCertificateFingerprint(absl::string_view pem);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_JOBS_AGENT_POLICY_STATE_H_
