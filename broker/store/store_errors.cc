#include "broker/store/store_errors.h"

#include "absl/strings/str_cat.h"

namespace certbridge::broker {

absl::Status TenantNotFound(const std::string& tenant_id) {
  return absl::NotFoundError(absl::StrCat("tenant \"", tenant_id, "\" not found"));
}

absl::Status ConnectorNotFound(const std::string& connector_id) {
  return absl::NotFoundError(absl::StrCat("connector \"", connector_id, "\" not found"));
}

absl::Status CaNotFound(const std::string& ca_id) {
  return absl::NotFoundError(absl::StrCat("certificate authority \"", ca_id, "\" not found"));
}

absl::Status RequestNotFound(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("certificate request \"", name, "\" not found"));
}

absl::Status JobNotFound(int64_t job_id) {
  return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
}

absl::Status ApiKeyNotFound(const std::string& key_id) {
  return absl::NotFoundError(absl::StrCat("API key \"", key_id, "\" not found"));
}

absl::Status RequestIdNotFound(const std::string& request_id) {
  return absl::NotFoundError(
      absl::StrCat("certificate request with request id \"", request_id, "\" not found"));
}

absl::Status SerialNotFound(const std::string& ca_id, const std::string& serial_hex) {
  return absl::NotFoundError(absl::StrCat("no certificate with serial ", serial_hex,
                                          " from certificate authority \"", ca_id, "\""));
}

absl::Status CaNotAssigned(const std::string& ca_id, const std::string& connector_id) {
  return absl::NotFoundError(absl::StrCat("certificate authority \"", ca_id,
                                          "\" is not assigned to connector \"", connector_id,
                                          "\""));
}

absl::Status RegistrationCodeNotFound() {
  return absl::NotFoundError("no pending connector with this registration code");
}

absl::Status EnrollmentTokenNotFound() { return absl::NotFoundError("enrollment token not found"); }

absl::Status TenantAlreadyExists(const std::string& tenant_id) {
  return absl::AlreadyExistsError(absl::StrCat("tenant \"", tenant_id, "\" already exists"));
}

absl::Status ApiKeyAlreadyExists(const std::string& key_id) {
  return absl::AlreadyExistsError(absl::StrCat("API key \"", key_id, "\" already exists"));
}

absl::Status EnrollmentTokenAlreadyExists() {
  return absl::AlreadyExistsError("enrollment token already exists");
}

absl::Status ConnectorAlreadyExists(const std::string& connector_id) {
  return absl::AlreadyExistsError(
      absl::StrCat("connector \"", connector_id, "\" already exists"));
}

absl::Status CaAlreadyExists(const std::string& ca_id) {
  return absl::AlreadyExistsError(
      absl::StrCat("certificate authority \"", ca_id, "\" already exists"));
}

absl::Status RequestAlreadyExists(const std::string& name) {
  return absl::AlreadyExistsError(
      absl::StrCat("certificate request \"", name, "\" already exists"));
}

absl::Status EnrollmentTokenUsed() {
  return absl::FailedPreconditionError("enrollment token already used");
}

absl::Status EnrollmentTokenExpired() {
  return absl::FailedPreconditionError("enrollment token expired");
}

absl::Status ConnectorInState(const std::string& connector_id, absl::string_view operation,
                              absl::string_view state) {
  return absl::FailedPreconditionError(
      absl::StrCat("connector \"", connector_id, "\": ", operation, ": state is ", state));
}

absl::Status RequestInState(const std::string& name, absl::string_view state) {
  return absl::FailedPreconditionError(
      absl::StrCat("certificate request \"", name, "\": state is ", state));
}

absl::Status JobAlreadyEnded(int64_t job_id, absl::string_view state) {
  return absl::FailedPreconditionError(absl::StrCat("job ", job_id, ": already ", state));
}

absl::Status RequestChangedMeanwhile(const std::string& name, RequestState expected) {
  return absl::AbortedError(absl::StrCat("request ", name, " is no longer ",
                                         RequestStateName(expected),
                                         ": it changed while the job's result was decided"));
}

absl::Status SessionTakenOver(const std::string& connector_id) {
  return absl::AbortedError(absl::StrCat(
      "connector \"", connector_id,
      "\": a newer stream of this connector took the session over; only one agent may run "
      "per registration (if two machines share one state directory, register each)"));
}

absl::Status UnknownChangeCursor(int64_t cursor) {
  return absl::FailedPreconditionError(absl::StrCat(
      "change cursor ", cursor,
      " is older than the change history kept, or not one this tenant was given: list the "
      "certificate requests again for their current state and watch from cursor 0 (the oldest "
      "change kept)"));
}

}  // namespace certbridge::broker
