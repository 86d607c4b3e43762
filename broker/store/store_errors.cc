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
