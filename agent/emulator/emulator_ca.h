// EmulatorCa: the AD CS behaviour of adcs-emulator, apart from gRPC wiring so it can be
// driven directly. It owns the CA key and certificate (generated into the state directory
// on first start), the request database (StateStore) and the active faults.
//
//   ASSIGN_OR_RETURN(auto ca, EmulatorCa::Create({.config = cfg, .state_dir = dir,
//                                                 .clock = &clock}));
//   ASSIGN_OR_RETURN(CaResponse r, ca->Submit("CORP\\AGENT01$", request));
//
// Errors: CA answers (issued, pending, denied, failed) are OK statuses holding a
// CaResponse. Errors are what AD CS fails at the RPC level, and their message starts with
// the HRESULT as "0x%08X " (HresultOf() reads it back):
// - UNAVAILABLE "0x800706BA ..." when the `unavailable` fault is set;
// - FAILED_PRECONDITION "0x80094003 ..." officer action on a request in the wrong state;
// - NOT_FOUND "0x80094004 ..." officer action on an unknown request id or serial;
// - PERMISSION_DENIED "0x80070005 ..." caller is not an officer;
// - INVALID_ARGUMENT for a bad revocation reason; INTERNAL for state-dir I/O.
//
// Thread-safe. Calls are serialized by one mutex (issuing signs under it: ~1 ms RSA).
#ifndef CERTBRIDGE_AGENT_EMULATOR_EMULATOR_CA_H_
#define CERTBRIDGE_AGENT_EMULATOR_EMULATOR_CA_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "adcsemu/v1/emulator.pb.h"
#include "agent/emulator/state_store.h"
#include "common/clock.h"
#include "common/pki/pki.h"

namespace certbridge::emulator {

// The HRESULT at the start of an EmulatorCa error message, if any.
std::optional<uint32_t> HresultOf(const absl::Status& status);

// Checks a config for mistakes a person would make (duplicate template cn, bad SID, bad
// key type). INVALID_ARGUMENT naming the field.
absl::Status ValidateConfig(const adcsemu::v1::EmulatorConfig& config);

class EmulatorCa {
 public:
  struct Options {
    adcsemu::v1::EmulatorConfig config;
    std::string state_dir;
    const Clock* clock = nullptr;  // required; outlives the EmulatorCa
    bool sync_writes = true;       // fsync every state change
    // Called by the die_after_issue fault after the certificate is persisted. The daemon
    // exits the process with status 3; tests may record instead.
    std::function<void()> die = nullptr;
  };

  static absl::StatusOr<std::unique_ptr<EmulatorCa>> Create(Options options);

  // ICertRequest::Submit by `identity`.
  absl::StatusOr<adcsemu::v1::CaResponse> Submit(const std::string& identity,
                                                 const adcsemu::v1::SubmitRequest& request);
  // ICertRequest::RetrievePending by `identity`.
  absl::StatusOr<adcsemu::v1::CaResponse> RetrievePending(const std::string& identity,
                                                          int64_t request_id);
  absl::StatusOr<adcsemu::v1::GetCaCertificateResponse> GetCaCertificate();
  absl::StatusOr<adcsemu::v1::ListTemplatesResponse> ListTemplates();
  absl::StatusOr<adcsemu::v1::PingResponse> Ping();
  // The requests `identity` submitted whose attribute `name` (any spelling) has `value`,
  // oldest first, with certificates. Subject to faults like the other CA calls.
  absl::StatusOr<adcsemu::v1::FindRequestsResponse> FindRequests(const std::string& identity,
                                                                 const std::string& name,
                                                                 const std::string& value);

  // Officer actions (ICertAdmin2). Not subject to faults.
  absl::StatusOr<adcsemu::v1::CaResponse> Resubmit(const std::string& officer, int64_t request_id);
  absl::StatusOr<adcsemu::v1::CaResponse> Deny(const std::string& officer, int64_t request_id);
  absl::StatusOr<adcsemu::v1::RevokeResponse> Revoke(const std::string& officer,
                                                     const std::string& serial_hex, int32_t reason);
  absl::StatusOr<adcsemu::v1::CrlResponse> PublishCrl(const std::string& officer);
  absl::StatusOr<adcsemu::v1::CrlResponse> GetCrl(const std::string& officer);
  absl::StatusOr<adcsemu::v1::ListRequestsResponse> ListRequests(const std::string& officer);

  adcsemu::v1::Faults faults() const;
  void SetFaults(const adcsemu::v1::Faults& faults);

  // "host\\name".
  std::string config_string() const;
  const std::string& ca_certificate_pem() const { return ca_->certificate().pem; }

 private:
  EmulatorCa(Options options, std::unique_ptr<pki::SigningCa> ca, std::unique_ptr<StateStore> store);

  // Sleeps for the latency fault, then fails if the CA is "unavailable".
  absl::Status ApplyFaults() const;
  absl::Status CheckOfficer(const std::string& officer) const;
  const adcsemu::v1::TemplateConfig* FindTemplate(absl::string_view cn) const;
  const adcsemu::v1::DirectoryEntry* FindDirectoryEntry(absl::string_view identity) const;
  // Issues `record` (its template, subject rules, SID extension) and sets disposition 3,
  // or sets a denial/failure disposition. Does not persist.
  void IssueLocked(adcsemu::v1::RequestRecord& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DenyLocked(adcsemu::v1::RequestRecord& record, int disposition, uint32_t hresult,
                  std::string message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records `record` in the state and the log. With `deferred_sync` the log append does
  // not wait for the disk: the caller must call store_->SyncThrough(*deferred_sync) before
  // it answers.
  absl::Status PersistLocked(const adcsemu::v1::RequestRecord& record,
                             uint64_t* deferred_sync = nullptr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Submit up to its answer, with the log record appended but not yet synced.
  absl::StatusOr<adcsemu::v1::CaResponse> SubmitUnsynced(const std::string& identity,
                                                         const adcsemu::v1::SubmitRequest& request,
                                                         uint64_t& sync_position);
  adcsemu::v1::CaResponse ResponseFor(const adcsemu::v1::RequestRecord& record,
                                      bool with_certificate) const;
  adcsemu::v1::RequestRecord* FindRequestLocked(int64_t request_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<adcsemu::v1::CrlResponse> PublishCrlLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const std::unique_ptr<pki::SigningCa> ca_;

  mutable absl::Mutex faults_mu_;
  adcsemu::v1::Faults faults_ ABSL_GUARDED_BY(faults_mu_);

  // Set once at construction. Appends happen under mu_; SyncThrough is called without it
  // (state_store.h), so that Submits share an fdatasync instead of each holding mu_ for one.
  const std::unique_ptr<StateStore> store_;
  absl::Mutex mu_;
  // All requests, CRL number and current CRL; requests are found through index_.
  adcsemu::v1::EmulatorState state_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, int> index_ ABSL_GUARDED_BY(mu_);  // request id -> position in requests
};

}  // namespace certbridge::emulator

#endif  // CERTBRIDGE_AGENT_EMULATOR_EMULATOR_CA_H_
