#include "agent/jobs/agent_policy_state.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/jobs/agent_policy.h"
#include "agent/platform/durable_files.h"
#include "common/adcs/serial_number.h"
#include "common/pki/delivery.h"

namespace certbridge::agent {

absl::StatusOr<std::unique_ptr<AgentPolicyState>> AgentPolicyState::Open(std::string dir) {
  if (absl::Status s = CreatePrivateDirectories(dir + "/issued"); !s.ok()) return s;
  if (absl::Status s = CheckPrivateDirectory(dir, "agent policy dir"); !s.ok()) return s;
  return std::unique_ptr<AgentPolicyState>(new AgentPolicyState(std::move(dir)));
}

absl::Status AgentPolicyState::RecordIssued(absl::string_view serial,
                                            absl::string_view request_name) {
  absl::StatusOr<std::string> normalized = adcs::NormalizeSerialNumber(serial);
  if (!normalized.ok()) return normalized.status();
  return WriteFileAtomically(absl::StrCat(dir_, "/issued/", *normalized),
                             absl::StrCat(request_name, "\n"), FileAccess::kOwnerOnly);
}

absl::StatusOr<bool> AgentPolicyState::WasIssuedHere(absl::string_view serial) const {
  absl::StatusOr<std::string> normalized = adcs::NormalizeSerialNumber(serial);
  if (!normalized.ok()) return normalized.status();
  // Only hex digits reach the path: NormalizeSerialNumber allows nothing else.
  return PathExists(absl::StrCat(dir_, "/issued/", *normalized));
}

std::string AgentPolicyState::PinPath() const {
  return absl::StrCat(dir_, "/delivery-certificate.sha256");
}

absl::StatusOr<std::optional<std::string>> AgentPolicyState::PinnedDeliveryCertificate() const {
  absl::StatusOr<std::string> text = ReadWholeFile(PinPath());
  if (absl::IsNotFound(text.status())) return std::optional<std::string>();
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> pin =
      NormalizeSha256Fingerprint(absl::StripAsciiWhitespace(*text));
  if (!pin.ok()) {
    return absl::DataLossError(absl::StrCat(PinPath(), ": ", pin.status().message(),
                                            "; pin the fingerprint again with certbridge-agent "
                                            "trust-delivery-certificate"));
  }
  return std::optional<std::string>(*std::move(pin));
}

absl::Status AgentPolicyState::PinDeliveryCertificate(absl::string_view sha256) {
  absl::StatusOr<std::string> pin = NormalizeSha256Fingerprint(sha256);
  if (!pin.ok()) return pin.status();
  return WriteFileAtomically(PinPath(), absl::StrCat(*pin, "\n"), FileAccess::kOwnerOnly);
}

absl::StatusOr<std::optional<std::string>> AgentPolicyState::PinAtRegistration(
    absl::string_view sha256, absl::string_view certificate_pem) {
  if (sha256.empty() && certificate_pem.empty()) {
    if (absl::Status s = RemoveFileIfExists(PinPath()); !s.ok()) return s;
    return std::optional<std::string>();
  }
  absl::StatusOr<std::string> announced = NormalizeSha256Fingerprint(sha256);
  if (!announced.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the broker's approval carries a delivery certificate fingerprint that does not "
        "parse: ",
        announced.status().message()));
  }
  absl::StatusOr<std::string> actual = pki::DeliveryCertificateSha256(certificate_pem);
  if (!actual.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the broker's approval carries a ",
                                                   actual.status().message()));
  }
  if (*actual != *announced) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the broker's approval names delivery certificate SHA-256 ",
        FormatSha256Fingerprint(*announced), " but carries a certificate with SHA-256 ",
        FormatSha256Fingerprint(*actual), "; nothing was pinned"));
  }
  if (absl::Status s = PinDeliveryCertificate(*actual); !s.ok()) return s;
  return std::optional<std::string>(*std::move(actual));
}

absl::StatusOr<std::string> DeliveryCertificateFingerprint(absl::string_view pem) {
  absl::StatusOr<std::string> sha256 = pki::DeliveryCertificateSha256(pem);
  if (!sha256.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the job's ", sha256.status().message()));
  }
  return sha256;
}

}  // namespace certbridge::agent
