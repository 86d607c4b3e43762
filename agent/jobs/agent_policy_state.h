// AgentPolicyState: the facts AgentPolicy decides on that live on disk, in the state dir:
//
//   DIR/                            0700 (state_dir/policy)
//     issued.log                    0600  the serial of every certificate issued through
//                                         this agent (as adcs::NormalizeSerialNumber writes
//                                         it) and its request name: an append-only log of
//                                         record_log.h records (type 1, payload
//                                         "SERIAL\nREQUEST_NAME", at most 4 KiB)
//     issued/<SERIAL>               0600  the same record as one file per certificate, as
//                                         agents before the log wrote it; still read, never
//                                         written or deleted (so a downgraded agent keeps
//                                         them too)
//     delivery-certificate.sha256   0600  the pinned SHA-256 fingerprint of the tenant's
//                                         delivery certificate (64 lower-case hex digits)
//
// RecordIssued returns once its record is on disk. Records of jobs finishing at the same
// time share one fdatasync (group commit, as in the job journal), against a file created,
// renamed and two fsyncs per certificate when each serial was a file of its own.
// AppendIssued does not wait for the disk: the executor uses it when the job journal's
// FINISHED record, synced before the result is sent, carries the certificate until
// SyncIssued has run (job_executor.h, IssuedSerialJournalOptions; docs/architecture.md
// §5.3), so a certificate costs the journal's fdatasync and not one more of this log. A crash in the middle
// of an append leaves a record that does not check: it is ignored when the log is loaded,
// and the log is rewritten without it before the next append (likewise after a failed one).
// The log is never compacted: every record stays live (a certificate issued here may be
// revoked through this agent until it expires, and the agent does not track expiry). A
// record is ~100-150 bytes (header, serial, request name): a million certificates make
// ~150 MB on disk and, as the serials are held in memory, roughly 100 MB of memory.
//
// The serials (log and issued/ files) are read on the first RecordIssued / WasIssuedHere
// and then answered from memory: only the agent that holds the state dir lock calls
// those; the CLI subcommands (register, trust-delivery-certificate) that open this state
// next to a running agent use only the pin, and Open does not touch the log.
// The pin is read from disk on every call, so `certbridge-agent trust-delivery-certificate`
// takes effect without a restart. Pin files are written atomically (durable_files.h).
// Certificates issued before the agent kept this record are not in it: revoking them needs
// --allow-revoke-any (docs/agent.md).
//
// Errors: INTERNAL / PERMISSION_DENIED for I/O (message names the file); DATA_LOSS for a
// pin file that does not hold a fingerprint or a log record that does not parse;
// INVALID_ARGUMENT for a serial or fingerprint that does not parse. Thread-safe.
#ifndef CERTBRIDGE_AGENT_JOBS_AGENT_POLICY_STATE_H_
#define CERTBRIDGE_AGENT_JOBS_AGENT_POLICY_STATE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "agent/jobs/record_log.h"
#include "agent/platform/durable_files.h"

namespace certbridge::agent {

class AgentPolicyState {
 public:
  // Creates DIR and DIR/issued (0700) if needed. FAILED_PRECONDITION if DIR is readable
  // by others.
  static absl::StatusOr<std::unique_ptr<AgentPolicyState>> Open(std::string dir);

  const std::string& dir() const { return dir_; }

  // Remembers that the certificate with `serial` was issued through this agent; returns
  // once the record is on disk. A request name over the record bound is cut (it is only
  // there for people reading the log).
  absl::Status RecordIssued(absl::string_view serial, absl::string_view request_name);
  // As RecordIssued, but returns once the record is appended, not once it is on disk: the
  // caller keeps the fact durable elsewhere until SyncIssued returns OK. A serial already
  // recorded (or appended) is not appended again. WasIssuedHere answers true at once.
  absl::Status AppendIssued(absl::string_view serial, absl::string_view request_name);
  // Returns once every record appended so far is on disk; OK at once when there is none.
  absl::Status SyncIssued();
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
  // DIR/issued.log.
  std::string IssuedLogPath() const;

 private:
  explicit AgentPolicyState(std::string dir) : dir_(std::move(dir)) {}

  // Reads the log (ignoring a torn tail, see above) and the issued/ files once; writes
  // nothing (the file is opened for appending by the first RecordIssued).
  absl::Status LoadIssuedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rewrites the log as its records that check (atomic write) and reopens it for appending.
  absl::Status RewriteLogLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns once every record up to `seq` is on disk (one sync for all waiting records).
  absl::Status SyncThroughLocked(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Validates and appends the record (not synced); `normalized` is the serial as kept.
  absl::StatusOr<uint64_t> AppendLocked(const std::string& normalized,
                                        absl::string_view request_name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  // Lazily loaded (mutable: WasIssuedHere is const and loads on first use).
  mutable absl::Mutex mu_;
  mutable bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  mutable std::unordered_set<std::string> issued_ ABSL_GUARDED_BY(mu_);
  mutable std::unique_ptr<AppendOnlyFile> log_ ABSL_GUARDED_BY(mu_);
  mutable record_log::GroupCommit commit_ ABSL_GUARDED_BY(mu_);
  // An append or sync failed: the log may end in a partial record, so it is rewritten
  // before anything else is appended.
  mutable bool needs_rewrite_ ABSL_GUARDED_BY(mu_) = false;
};

// The fingerprint a delivery certificate is pinned by: SHA-256 of its DER, 64 lower-case
// hex digits. INVALID_ARGUMENT when the PEM does not parse.
absl::StatusOr<std::string> DeliveryCertificateFingerprint(absl::string_view pem);

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_JOBS_AGENT_POLICY_STATE_H_
