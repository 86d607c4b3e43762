#include "tools/certbridgectl/commands.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "tools/certbridgectl/output.h"

namespace certbridge::ctl {
namespace {

using Stub = v1::AdminService::StubInterface;

// The RPC that serves each request type; std::visit picks one by the request's type.
auto RpcFor(const v1::CreateTenantRequest&) { return &Stub::CreateTenant; }
auto RpcFor(const v1::ListTenantsRequest&) { return &Stub::ListTenants; }
auto RpcFor(const v1::CreateApiKeyRequest&) { return &Stub::CreateApiKey; }
auto RpcFor(const v1::ListApiKeysRequest&) { return &Stub::ListApiKeys; }
auto RpcFor(const v1::CreateEnrollmentTokenRequest&) { return &Stub::CreateEnrollmentToken; }
auto RpcFor(const v1::CreateCertificateAuthorityRequest&) {
  return &Stub::CreateCertificateAuthority;
}
auto RpcFor(const v1::ListCertificateAuthoritiesRequest&) {
  return &Stub::ListCertificateAuthorities;
}
auto RpcFor(const v1::DeleteCertificateAuthorityRequest&) {
  return &Stub::DeleteCertificateAuthority;
}
auto RpcFor(const v1::AssignCertificateAuthorityRequest&) {
  return &Stub::AssignCertificateAuthority;
}
auto RpcFor(const v1::UnassignCertificateAuthorityRequest&) {
  return &Stub::UnassignCertificateAuthority;
}
auto RpcFor(const v1::ListConnectorsRequest&) { return &Stub::ListConnectors; }
auto RpcFor(const v1::GetConnectorRequest&) { return &Stub::GetConnector; }
auto RpcFor(const v1::ApproveConnectorRequest&) { return &Stub::ApproveConnector; }
auto RpcFor(const v1::RejectConnectorRequest&) { return &Stub::RejectConnector; }
auto RpcFor(const v1::DisableConnectorRequest&) { return &Stub::DisableConnector; }
auto RpcFor(const v1::EnableConnectorRequest&) { return &Stub::EnableConnector; }
auto RpcFor(const v1::DeleteConnectorRequest&) { return &Stub::DeleteConnector; }
auto RpcFor(const v1::ListAuditEventsRequest&) { return &Stub::ListAuditEvents; }

template <typename Request, typename Response>
absl::StatusOr<AdminResponse> Call(grpc::Status (Stub::*rpc)(grpc::ClientContext*,
                                                             const Request&, Response*),
                                   Stub& stub, const Request& request,
                                   const CallOptions& options) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(options.timeout));
  context.AddMetadata("authorization", absl::StrCat("Bearer ", options.api_key));
  Response response;
  grpc::Status status = (stub.*rpc)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return AdminResponse(std::move(response));
}

// The whole file, or an error naming `what` and `path` (never the contents).
absl::StatusOr<std::string> ReadFile(absl::string_view what, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int error = errno;
    const std::string message =
        absl::StrFormat("cannot read %s \"%s\": %s", what, path, std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) {
    return absl::FailedPreconditionError(absl::StrFormat("cannot read %s \"%s\"", what, path));
  }
  return contents.str();
}

}  // namespace

absl::StatusOr<AdminResponse> CallAdminService(Stub& stub, const AdminRequest& request,
                                               const CallOptions& options) {
  return std::visit(
      [&](const auto& typed) { return Call(RpcFor(typed), stub, typed, options); }, request);
}

absl::StatusOr<std::string> LoadApiKey(const GlobalOptions& global) {
  std::string key;
  std::string source;
  if (!global.api_key_file.empty()) {
    ASSIGN_OR_RETURN(key, ReadFile("API key file", global.api_key_file));
    source = absl::StrFormat("API key file \"%s\"", global.api_key_file);
  } else {
    key = global.api_key;
    source = std::string(kApiKeyEnv);
  }
  absl::StripAsciiWhitespace(&key);
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(source, " is empty"));
  for (char c : key) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, " holds a character that cannot be sent in gRPC metadata; it should hold "
                  "only the key"));
    }
  }
  return key;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateBrokerChannel(
    const GlobalOptions& global) {
  grpc::SslCredentialsOptions tls;
  if (!global.ca_cert_file.empty()) {
    ASSIGN_OR_RETURN(tls.pem_root_certs, ReadFile("CA certificate file", global.ca_cert_file));
    if (tls.pem_root_certs.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "CA certificate file \"%s\" holds no PEM certificate", global.ca_cert_file));
    }
  }
  return grpc::CreateChannel(global.broker, grpc::SslCredentials(tls));
}

int RunCertbridgectl(const std::vector<std::string>& args, const Environment& env,
                     const Clock& clock, std::ostream& out, std::ostream& err) {
  ParseResult parsed = ParseCommandLine(args, env);
  switch (parsed.kind) {
    case ParseResult::Kind::kHelp:
      out << parsed.text;
      return kExitSuccess;
    case ParseResult::Kind::kUsageError:
      err << "error: " << parsed.text << "\nRun '" << parsed.help_command
          << " --help' for usage.\n";
      return kExitUsage;
    case ParseResult::Kind::kInvocation:
      break;
  }
  const Invocation& invocation = parsed.invocation;

  absl::StatusOr<std::string> api_key = LoadApiKey(invocation.global);
  if (!api_key.ok()) {
    err << "error: " << api_key.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      CreateBrokerChannel(invocation.global);
  if (!channel.ok()) {
    err << "error: " << channel.status().message() << "\n";
    return kExitFailure;
  }
  std::unique_ptr<Stub> stub = v1::AdminService::NewStub(*channel);
  absl::StatusOr<AdminResponse> response = CallAdminService(
      *stub, invocation.request, CallOptions{*std::move(api_key), invocation.global.timeout});
  if (!response.ok()) {
    err << FormatCallError(response.status());
    return kExitFailure;
  }

  const std::string notice = ShownOnceNotice(*response);
  if (invocation.global.output == OutputFormat::kJson) {
    absl::StatusOr<std::string> json = RenderJson(*response);
    if (!json.ok()) {
      err << FormatCallError(json.status());
      return kExitFailure;
    }
    out << *json;
    err << notice;  // Keeps stdout a single JSON document for jq.
  } else {
    out << RenderTable(invocation.request, *response, clock.Now()) << notice;
  }
  return kExitSuccess;
}

}  // namespace certbridge::ctl
