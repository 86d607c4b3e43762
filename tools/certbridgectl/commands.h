// certbridgectl's gRPC side: loading the API key, opening the TLS channel to the broker,
// sending an AdminRequest to its RPC, and RunCertbridgectl, which ties parsing, the call and
// printing together so that main() and tests run the same code.
#ifndef CERTBRIDGE_TOOLS_CERTBRIDGECTL_COMMANDS_H_
#define CERTBRIDGE_TOOLS_CERTBRIDGECTL_COMMANDS_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "certbridge/v1/admin.grpc.pb.h"
#include "common/clock.h"
#include "tools/certbridgectl/admin_messages.h"
#include "tools/certbridgectl/command_line.h"

namespace certbridge::ctl {

inline constexpr int kExitSuccess = 0;
inline constexpr int kExitFailure = 1;  // The call failed, or a local file could not be used.
inline constexpr int kExitUsage = 2;    // The command line was wrong; nothing was sent.

struct CallOptions {
  std::string api_key;  // Sent as `authorization: Bearer <api_key>`.
  absl::Duration timeout = absl::Seconds(30);
};

// Sends `request` to its AdminService RPC with the API key and a deadline of
// `options.timeout` from now. Returns the RPC's status as an absl::Status (same codes) or
// its response. Blocks; thread-safe if `stub` is.
absl::StatusOr<AdminResponse> CallAdminService(v1::AdminService::StubInterface& stub,
                                               const AdminRequest& request,
                                               const CallOptions& options);

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
// `clock` supplies "now" for ages such as "12s ago"; deadlines use real time. Returns the
// process exit code: kExitSuccess, kExitFailure or kExitUsage.
int RunCertbridgectl(const std::vector<std::string>& args, const Environment& env,
                     const Clock& clock, std::ostream& out, std::ostream& err);

}  // namespace certbridge::ctl

#endif  // CERTBRIDGE_TOOLS_CERTBRIDGECTL_COMMANDS_H_
