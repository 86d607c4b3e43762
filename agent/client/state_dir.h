// The agent's state directory: its identity and credentials on disk.
//
//   DIR/                  0700, created by `register`
//     agent.key           0600  the agent's private key (PKCS#8 PEM); never leaves the host.
//                               On Windows also DPAPI-protected (machine scope), see
//                               agent/platform/secret_protection.h; a plain file from an
//                               older agent is rewritten protected on first load
//     agent-chain.pem     0644  its certificate, leaf first, then the broker's connector CA
//     broker-ca.pem       0644  the root that the broker's TLS certificate chains to
//     agent.conf          0600  key=value: broker, tenant_id, connector_id, host, ca_identity,
//                               proxy (optional)
//     agent.lock          0600  empty; `run` holds an exclusive lock on it (one agent per
//                               directory)
//
// Modes are the Linux ones; Windows uses DACLs to the same effect: SYSTEM, Administrators
// and the owner, plus read for Users on the 0644 files (agent/platform/durable_files.h).
//
// Every file is written to a temporary file in DIR (never readable by others, even for a
// moment), flushed to disk, and renamed over the old one.
// A renewal replaces agent.key and agent-chain.pem together through a small journal
// (agent.key.new, agent-chain.pem.new, then the marker renewal.commit): a crash at any point
// leaves either the old pair or the new pair, and the next load completes or discards the
// half-done renewal.
//
// Errors: NOT_FOUND when there is no registration; ALREADY_EXISTS when one exists and
// overwriting was not asked for; FAILED_PRECONDITION for a directory others can read or a
// damaged agent.conf; INTERNAL for I/O errors (message names the file and errno text).
// Not thread-safe for writes: one agent process per directory.
#ifndef CERTBRIDGE_AGENT_CLIENT_STATE_DIR_H_
#define CERTBRIDGE_AGENT_CLIENT_STATE_DIR_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/platform/durable_files.h"
#include "agent/platform/secret_protection.h"

namespace certbridge::agent {

// Who the agent is, as agreed with the broker at registration.
struct AgentRegistration {
  std::string broker_address;  // HOST:PORT of the broker's agent port
  std::string tenant_id;
  std::string connector_id;
  std::string host;
  std::string ca_identity;  // e.g. CORP\ADCS01$
  // Outbound HTTP proxy given to `register` ("http://HOST:PORT"), used by `run` unless it
  // is given --proxy; empty: none. An admin may edit the proxy= line of agent.conf.
  std::string proxy;
};

struct AgentCredentials {
  std::string key_pem;
  std::string chain_pem;
  std::string broker_ca_pem;
};

// A secret file (agent.key, the pending-key encryption key): written like any other file with
// FileAccess::kOwnerOnly, in the platform's protected form (ProtectSecret).
absl::Status WriteSecretFile(const std::string& path, absl::string_view secret);

// The secret in a file written by WriteSecretFile. A file still in plain form (written by an
// agent without protection at rest, or by hand) is rewritten protected before returning
// (logged as state.secret_protected). NOT_FOUND if it does not exist; DATA_LOSS if it
// cannot be unprotected on this machine.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// The exclusive lock on DIR/agent.lock, released when destroyed (or when the process dies).
using StateDirLock = ExclusiveFileLock;

class StateDir {
 public:
  static constexpr const char* kKeyFile = "agent.key";
  static constexpr const char* kChainFile = "agent-chain.pem";
  static constexpr const char* kBrokerCaFile = "broker-ca.pem";
  static constexpr const char* kConfigFile = "agent.conf";
  static constexpr const char* kLockFile = "agent.lock";

  explicit StateDir(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  std::string FilePath(absl::string_view name) const;

  // True if agent.conf or agent.key exists.
  bool HasRegistration() const;

  // Creates the directory (0700, parents as needed) and writes all four files. Refuses with
  // ALREADY_EXISTS if a registration exists and !overwrite. An existing directory must not
  // be accessible by group or others (FAILED_PRECONDITION).
  absl::Status Save(const AgentRegistration& registration, const AgentCredentials& credentials,
                    bool overwrite) const;

  absl::StatusOr<AgentRegistration> LoadRegistration() const;

  // Reads the three PEM files, first completing or discarding an interrupted renewal.
  absl::StatusOr<AgentCredentials> LoadCredentials() const;

  // Takes the directory's lock without waiting. FAILED_PRECONDITION if another process holds
  // it (a second agent on the same state dir would race it for renewals).
  absl::StatusOr<std::unique_ptr<StateDirLock>> Lock() const;

  // Atomically (as a pair) replaces agent.key (0600) and agent-chain.pem.
  absl::Status ReplaceKeyAndChain(absl::string_view key_pem, absl::string_view chain_pem) const;

 private:
  absl::Status RecoverInterruptedRenewal() const;

  std::string path_;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CLIENT_STATE_DIR_H_
