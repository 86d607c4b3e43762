// certbridgectl's command line: global flags (also read from the environment), the command
// tree, per-command flags and help text. Parsing turns arguments into a BrokerRequest and
// never talks to a server nor touches a file (it only records file paths, see
// FileArguments), so every rule here is unit-tested without either.
//
//   ParseResult result = ParseCommandLine({"connectors", "approve", "K7XQ-2M"}, env);
//   // result.kind == ParseResult::Kind::kInvocation;
//   // std::get<v1::ApproveConnectorRequest>(result.invocation.request).registration_code()
//   //   == "K7XQ-2M"
//
// Global flags may appear anywhere on the line; a command's own flags only make sense with
// that command. Both take `--flag value` or `--flag=value`; `--` ends the flags. A command
// flag given twice is a usage error unless it is repeatable (--san, --label); a global flag
// given twice keeps the last value.
// Precedence: flag, then environment variable, then default. Pure functions; thread-safe.
#ifndef CERTBRIDGE_TOOLS_CERTBRIDGECTL_COMMAND_LINE_H_
#define CERTBRIDGE_TOOLS_CERTBRIDGECTL_COMMAND_LINE_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/certbridgectl/broker_messages.h"

namespace certbridge::ctl {

// Environment variables certbridgectl reads, by name. main() fills it from the process
// environment; tests pass their own.
using Environment = std::map<std::string, std::string, std::less<>>;

inline constexpr absl::string_view kBrokerEnv = "CERTBRIDGE_BROKER";
inline constexpr absl::string_view kApiKeyEnv = "CERTBRIDGE_API_KEY";
inline constexpr absl::string_view kCaCertEnv = "CERTBRIDGE_CA_CERT";

enum class OutputFormat { kTable, kJson };

struct GlobalOptions {
  // HOST:PORT of the broker's API port. --broker or CERTBRIDGE_BROKER; required.
  std::string broker;
  // PEM root certificate(s) that verify the broker's TLS certificate. --ca-cert or
  // CERTBRIDGE_CA_CERT; empty means the system's trusted roots. TLS is always on.
  std::string ca_cert_file;
  // Where the API key comes from: --api-key-file wins over CERTBRIDGE_API_KEY. Exactly one
  // of the two is set. The key itself is never printed or logged.
  std::string api_key_file;
  std::string api_key;
  OutputFormat output = OutputFormat::kTable;  // --output table|json
  absl::Duration timeout = absl::Seconds(30);  // --timeout SECONDS, deadline of each call
};

// Files a command reads before its call and writes after it. Parsing records the paths;
// RunCertbridgectl does the I/O, so an unreadable or unwritable file exits 1, not 2.
struct FileArguments {
  // Read before the call into the request's PEM field: the CSR of
  // `certificates request --csr FILE`, the certificate of `delivery-certificate set FILE`.
  // Empty: none.
  std::string input;
  // `certificates request` / `certificates get`: where to write what the returned
  // CertificateRequest carries. Empty: not written.
  std::string certificate_pem;     // --out-cert: certificate_pem, mode 0644
  std::string chain_pem;           // --out-chain: chain_pem, mode 0644
  std::string pkcs12_der;          // --out-pkcs12: pkcs12, mode 0600
  std::string enveloped_password;  // --out-password-cms: enveloped_password, mode 0600

  bool has_outputs() const {
    return !certificate_pem.empty() || !chain_pem.empty() || !pkcs12_der.empty() ||
           !enveloped_password.empty();
  }
};

struct Invocation {
  GlobalOptions global;
  // The command as typed, e.g. "connectors approve"; used in messages.
  std::string command;
  // For `certificates request`, request_id is empty when --request-id was not given:
  // RunCertbridgectl then makes a random UUID and prints it before the call.
  BrokerRequest request;
  FileArguments files;
};

struct ParseResult {
  enum class Kind {
    kInvocation,  // Run `invocation`.
    kHelp,        // Print `text` to stdout and exit 0.
    kUsageError,  // Print "error: " + `text` to stderr, point at `help_command`, exit 2.
  };
  Kind kind = Kind::kUsageError;
  std::string text;
  // For kUsageError: the command whose --help explains what went wrong, e.g.
  // "certbridgectl cas add".
  std::string help_command;
  Invocation invocation;
};

// `args` excludes the program name.
ParseResult ParseCommandLine(const std::vector<std::string>& args, const Environment& env);

// A TTL such as "24h", "90m", "1h30m" or "7d" (absl::ParseDuration plus whole days).
// InvalidArgument unless it is positive and a whole number of seconds.
absl::StatusOr<absl::Duration> ParseTtl(absl::string_view text);

// A CRL reason for `certificates revoke --reason`: its number (0, 1, 3, 4, 5, 6) or its
// name (unspecified, key-compromise, affiliation-changed, superseded,
// cessation-of-operation, certificate-hold). InvalidArgument listing them otherwise.
absl::StatusOr<int> ParseRevocationReason(absl::string_view text);

// The lower-case name ParseRevocationReason accepts for `reason`, or its number as text.
std::string RevocationReasonName(int reason);

}  // namespace certbridge::ctl

#endif  // CERTBRIDGE_TOOLS_CERTBRIDGECTL_COMMAND_LINE_H_
