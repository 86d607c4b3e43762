// certbridgectl's gRPC and file side: loading the API key, opening the TLS channel to the
// broker, reading input files and writing output files, sending a BrokerRequest to its RPC,
// and RunCertbridgectl, which ties parsing, the call and printing together so that main()
// and tests run the same code.
#ifndef CERTBRIDGE_TOOLS_CERTBRIDGECTL_COMMANDS_H_
#define CERTBRIDGE_TOOLS_CERTBRIDGECTL_COMMANDS_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certbridge/v1/admin.grpc.pb.h"
#include "certbridge/v1/certificate.grpc.pb.h"
#include "common/clock.h"
#include "tools/certbridgectl/broker_messages.h"
#include "tools/certbridgectl/command_line.h"

namespace certbridge::ctl {

inline constexpr int kExitSuccess = 0;
inline constexpr int kExitFailure = 1;  // The call failed, or a local file could not be used.
inline constexpr int kExitUsage = 2;    // The command line was wrong; nothing was sent.

struct CallOptions {
  std::string api_key;  // Sent as `authorization: Bearer <api_key>`.
  absl::Duration timeout = absl::Seconds(30);
};

// The broker's services on one channel. Not owned.
struct BrokerStubs {
  v1::AdminService::StubInterface* admin = nullptr;
  v1::CertificateService::StubInterface* certificates = nullptr;
};

// Sends `request` to its unary RPC with the API key and a deadline of `options.timeout`
// from now. Returns the RPC's status as an absl::Status (same codes) or its response.
// InvalidArgument for WatchCertificateRequestsRequest, a stream that RunCertbridgectl runs
// itself. REQUIRES: the stub of the request's service is set. Blocks; thread-safe if the
// stubs are.
absl::StatusOr<BrokerResponse> CallBroker(const BrokerStubs& stubs, const BrokerRequest& request,
                                          const CallOptions& options);

// The deadline to give `request`'s call: `timeout`, plus the wait_timeout of a
// CreateCertificateRequestRequest, since the broker holds that call open while the CA works.
absl::Duration CallTimeout(const BrokerRequest& request, absl::Duration timeout);

// A random version-4 UUID in lower-case hex, e.g. "1b4e28ba-2fa1-41d2-883f-0016d3cca427":
// the default --request-id.
std::string NewRequestId();

// Reads `path` into the PEM field of `request`, refusing files that would send the wrong
// thing. CreateCertificateRequestRequest: a PKCS#10 request, PEM sent as it is, DER sent as
// base64. SetDeliveryCertificateRequest: one certificate, sent as PEM. A file holding a
// private key is refused (nothing of it is sent). Errors name the file, never its contents:
// NotFound / PermissionDenied / FailedPrecondition if it cannot be read, InvalidArgument if
// it holds the wrong thing or `request` takes no file.
absl::Status LoadInputFile(const std::string& path, BrokerRequest& request);

// Writes the --out-* files of `files` from `response` (see FileArguments for contents and
// modes; an existing file is truncated and gets the mode). Writes every file it can, adds
// "PATH (what)" to `written` for each, and returns the first problem: FailedPrecondition if
// the response carries nothing for a requested file (e.g. no certificate yet), or the
// error of a file that could not be written (naming it). Blocks.
absl::Status WriteOutputFiles(const FileArguments& files, const v1::CertificateRequest& response,
                              std::vector<std::string>& written);

// Lets another thread (main()'s signal watcher) stop a command that runs until interrupted:
// `certificates watch`. Thread-safe.
class Interrupter {
 public:
  // While set, Interrupt() calls `cancel` (under a lock, so it must not block). Calls it at
  // once if Interrupt() already happened.
  void SetCancel(std::function<void()> cancel);
  // After this returns, `cancel` is not running and will not be called.
  void ClearCancel();
  // Records the interrupt and calls the cancel function. Returns false if none was set,
  // i.e. no interruptible command is running: the caller then ends the process itself.
  bool Interrupt();
  bool interrupted() const;

 private:
  mutable absl::Mutex mu_;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> cancel_ ABSL_GUARDED_BY(mu_);
};

// The API key from global.api_key_file (surrounding whitespace trimmed) or global.api_key.
// NotFound/PermissionDenied/FailedPrecondition if the file cannot be read;
// InvalidArgument if the key is empty or holds characters that cannot go in gRPC metadata.
// Messages name the file, never the key.
absl::StatusOr<std::string> LoadApiKey(const GlobalOptions& global);

// A TLS channel to global.broker that verifies the broker's certificate against
// global.ca_cert_file, or the system roots when that is empty. Fails only on local
// problems (unreadable or non-PEM CA file); connection problems surface as UNAVAILABLE
// on the first call.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateBrokerChannel(const GlobalOptions& global);

// Runs one certbridgectl command line (`args` without the program name): prints the
// result to `out` and errors, hints and usage problems to `err`. In --output json mode
// `out` carries only the JSON document; the shown-once notice for secrets goes to `err`.
// `clock` supplies "now" for ages such as "12s ago"; deadlines use real time. `interrupter`
// (may be null) stops `certificates watch`, which then exits kExitSuccess. Returns the
// process exit code: kExitSuccess, kExitFailure or kExitUsage.
int RunCertbridgectl(const std::vector<std::string>& args, const Environment& env,
                     const Clock& clock, std::ostream& out, std::ostream& err,
                     Interrupter* interrupter = nullptr);

}  // namespace certbridge::ctl

#endif  // CERTBRIDGE_TOOLS_CERTBRIDGECTL_COMMANDS_H_
