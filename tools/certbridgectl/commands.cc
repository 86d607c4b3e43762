#include "tools/certbridgectl/commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <type_traits>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/api_error.h"
#include "common/grpc_status.h"
#include "common/pki/pem.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"
#include "tools/certbridgectl/output.h"

namespace certbridge::ctl {
namespace {

using Stub = v1::AdminService::StubInterface;
using CertificateStub = v1::CertificateService::StubInterface;

// The RPC that serves each request type; std::visit picks one by the request's type.
auto RpcFor(const v1::CreateTenantRequest&) { return &Stub::CreateTenant; }
auto RpcFor(const v1::ListTenantsRequest&) { return &Stub::ListTenants; }
auto RpcFor(const v1::CreateApiKeyRequest&) { return &Stub::CreateApiKey; }
auto RpcFor(const v1::ListApiKeysRequest&) { return &Stub::ListApiKeys; }
auto RpcFor(const v1::RevokeApiKeyRequest&) { return &Stub::RevokeApiKey; }
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
auto RpcFor(const v1::SetDeliveryCertificateRequest&) { return &Stub::SetDeliveryCertificate; }
auto RpcFor(const v1::GetDeliveryCertificateRequest&) { return &Stub::GetDeliveryCertificate; }
auto RpcFor(const v1::CreateCertificateRequestRequest&) {
  return &CertificateStub::CreateCertificateRequest;
}
auto RpcFor(const v1::GetCertificateRequestRequest&) {
  return &CertificateStub::GetCertificateRequest;
}
auto RpcFor(const v1::ListCertificateRequestsRequest&) {
  return &CertificateStub::ListCertificateRequests;
}
auto RpcFor(const v1::CancelCertificateRequestRequest&) {
  return &CertificateStub::CancelCertificateRequest;
}
auto RpcFor(const v1::RevokeCertificateRequest&) { return &CertificateStub::RevokeCertificate; }

Stub* StubOf(const BrokerStubs& stubs, Stub*) { return stubs.admin; }
CertificateStub* StubOf(const BrokerStubs& stubs, CertificateStub*) {
  return stubs.certificates;
}

void PrepareContext(grpc::ClientContext& context, const std::string& api_key) {
  context.AddMetadata("authorization", absl::StrCat("Bearer ", api_key));
}

template <typename StubType, typename Request, typename Response>
absl::StatusOr<BrokerResponse> Call(grpc::Status (StubType::*rpc)(grpc::ClientContext*,
                                                                  const Request&, Response*),
                                    const BrokerStubs& stubs, const Request& request,
                                    const CallOptions& options) {
  StubType* stub = StubOf(stubs, static_cast<StubType*>(nullptr));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(options.timeout));
  PrepareContext(context, options.api_key);
  Response response;
  grpc::Status status = (stub->*rpc)(&context, request, &response);
  // With the error details, so that FormatCallError can print the broker's remedy.
  if (!status.ok()) return FromGrpcStatusWithDetails(status);
  return BrokerResponse(std::move(response));
}

// A request ends without a certificate in these states: `certificates request` exits 1.
bool EndedWithoutCertificate(v1::CertificateRequest::State state) {
  return state == v1::CertificateRequest::STATE_DENIED || state == v1::CertificateRequest::STATE_FAILED ||
         state == v1::CertificateRequest::STATE_EXPIRED ||
         state == v1::CertificateRequest::STATE_CANCELLED;
}

// Creates or truncates `path` with exactly `mode` (not subject to the umask, and also when
// the file existed with a wider mode), then writes `contents`. The mode is set before any
// byte is written, so a PKCS#12 never sits in a world-readable file.
absl::Status WriteFileWithMode(const std::string& path, absl::string_view contents,
                               mode_t mode) {
  auto failure = [&path](absl::string_view action) {
    const int error = errno;
    const std::string message =
        absl::StrFormat("cannot %s \"%s\": %s", action, path, std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  };
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return failure("create");
  if (fchmod(fd, mode) != 0) {
    absl::Status status = failure("set the mode of");
    close(fd);
    return status;
  }
  while (!contents.empty()) {
    const ssize_t n = write(fd, contents.data(), contents.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status status = failure("write");
      close(fd);
      return status;
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
  if (close(fd) != 0) return failure("write");
  return absl::OkStatus();
}

// Why a watch stopped, on stderr, with the cursor to resume from.
std::string ResumeLine(const std::string& cursor) {
  if (cursor.empty()) {
    return "No event was received; run 'certbridgectl certificates watch' again (changes "
           "made in between are not shown).\n";
  }
  return absl::StrCat("Last cursor: ", cursor,
                      "\nResume with: certbridgectl certificates watch --cursor ", cursor, "\n");
}

// Runs `certificates watch` until the stream ends or `interrupter` fires.
int RunWatch(CertificateStub& stub, const Invocation& invocation, const std::string& api_key,
             Interrupter* interrupter, std::ostream& out, std::ostream& err) {
  const auto& request = std::get<v1::WatchCertificateRequestsRequest>(invocation.request);
  grpc::ClientContext context;  // No deadline: a watch runs until interrupted.
  PrepareContext(context, api_key);
  if (interrupter != nullptr) interrupter->SetCancel([&context] { context.TryCancel(); });
  std::unique_ptr<grpc::ClientReaderInterface<v1::CertificateRequestEvent>> reader =
      stub.WatchCertificateRequests(&context, request);
  std::string cursor = request.cursor();
  bool received = false;
  int exit_code = kExitSuccess;
  v1::CertificateRequestEvent event;
  while (reader->Read(&event)) {
    received = true;
    if (!event.cursor().empty()) cursor = event.cursor();
    if (invocation.global.output == OutputFormat::kJson) {
      absl::StatusOr<std::string> line = RenderJsonLine(event);
      if (!line.ok()) {
        err << FormatCallError(line.status());
        exit_code = kExitFailure;
        context.TryCancel();
        break;
      }
      out << *line;
    } else {
      out << RenderWatchLine(event);
    }
    out.flush();  // Each event as it happens, also through a pipe.
  }
  const grpc::Status status = reader->Finish();
  if (interrupter != nullptr) interrupter->ClearCancel();
  if (exit_code != kExitSuccess) return exit_code;
  if (interrupter != nullptr && interrupter->interrupted()) {
    err << "Interrupted. " << ResumeLine(cursor);
    return kExitSuccess;
  }
  if (status.ok()) {
    err << "The broker ended the watch. " << ResumeLine(cursor);
    return kExitSuccess;
  }
  // Once events arrived the connection worked, so the connection hint would mislead.
  const absl::Status failure = FromGrpcStatusWithDetails(status);
  err << (received ? absl::StrCat("error: ", absl::StatusCodeToString(failure.code()), ": ",
                                  failure.message(), "\n")
                   : FormatCallError(failure, invocation.command))
      << ResumeLine(cursor);
  return kExitFailure;
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

absl::StatusOr<BrokerResponse> CallBroker(const BrokerStubs& stubs, const BrokerRequest& request,
                                          const CallOptions& options) {
  return std::visit(
      [&](const auto& typed) -> absl::StatusOr<BrokerResponse> {
        using Request = std::decay_t<decltype(typed)>;
        if constexpr (std::is_same_v<Request, v1::WatchCertificateRequestsRequest>) {
          return absl::InvalidArgumentError(
              "WatchCertificateRequests is a stream; RunCertbridgectl runs it");
        } else {
          return Call(RpcFor(typed), stubs, typed, options);
        }
      },
      request);
}

absl::Duration CallTimeout(const BrokerRequest& request, absl::Duration timeout) {
  if (const auto* create = std::get_if<v1::CreateCertificateRequestRequest>(&request)) {
    return timeout + absl::Seconds(create->wait_timeout().seconds()) +
           absl::Nanoseconds(create->wait_timeout().nanos());
  }
  return timeout;
}

std::string NewRequestId() {
  std::string bytes = pki::RandomBytes(16);
  bytes[6] = static_cast<char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string hex = absl::BytesToHexString(bytes);
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

absl::Status LoadInputFile(const std::string& path, BrokerRequest& request) {
  if (auto* create = std::get_if<v1::CreateCertificateRequestRequest>(&request)) {
    ASSIGN_OR_RETURN(std::string contents, ReadFile("CSR file", path));
    if (pki::PemHoldsPrivateKey(contents)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "CSR file \"%s\" holds a private key; nothing was sent: pass the CSR only", path));
    }
    absl::StatusOr<pki::CsrInfo> csr = pki::ParseCsr(contents);
    if (!csr.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "CSR file \"%s\" is not a PKCS#10 request (PEM or DER): %s", path,
          csr.status().message()));
    }
    const bool pem = contents.find("-----BEGIN") != std::string::npos;
    create->set_csr_pem(pem ? contents : absl::Base64Escape(csr->der));
    return absl::OkStatus();
  }
  if (auto* set = std::get_if<v1::SetDeliveryCertificateRequest>(&request)) {
    ASSIGN_OR_RETURN(std::string contents, ReadFile("certificate file", path));
    if (pki::PemHoldsPrivateKey(contents)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "certificate file \"%s\" holds a private key; nothing was sent: pass the "
          "certificate only and keep the key with whoever opens the PKCS#12 passwords",
          path));
    }
    absl::StatusOr<pki::CertificateInfo> certificate = pki::ParseCertificate(contents);
    if (!certificate.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "certificate file \"%s\" holds no X.509 certificate (PEM or DER): %s", path,
          certificate.status().message()));
    }
    set->set_certificate_pem(certificate->pem);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrFormat("this command reads no file (\"%s\")", path));
}

absl::Status WriteOutputFiles(const FileArguments& files, const v1::CertificateRequest& response,
                              std::vector<std::string>& written) {
  struct Output {
    const std::string& path;
    absl::string_view flag;
    absl::string_view what;
    const std::string& contents;
    mode_t mode;
  };
  const Output outputs[] = {
      {files.certificate_pem, "--out-cert", "certificate, PEM", response.certificate_pem(),
       0644},
      {files.chain_pem, "--out-chain", "chain, PEM", response.chain_pem(), 0644},
      {files.pkcs12_der, "--out-pkcs12", "PKCS#12, DER", response.pkcs12(), 0600},
      {files.enveloped_password, "--out-password-cms", "enveloped password, CMS DER",
       response.enveloped_password(), 0600},
  };
  absl::Status first_problem;
  for (const Output& output : outputs) {
    if (output.path.empty()) continue;
    absl::Status status;
    if (output.contents.empty()) {
      status = absl::FailedPreconditionError(absl::StrFormat(
          "%s \"%s\" not written: request %s is %s and carries no %s", output.flag,
          output.path, response.name(),
          absl::StripPrefix(v1::CertificateRequest::State_Name(response.state()), "STATE_"),
          absl::string_view(output.what).substr(0, output.what.find(','))));
    } else {
      status = WriteFileWithMode(output.path, output.contents, output.mode);
    }
    if (status.ok()) {
      written.push_back(absl::StrCat(output.path, " (", output.what, ")"));
    } else if (first_problem.ok()) {
      first_problem = status;
    }
  }
  return first_problem;
}

void Interrupter::SetCancel(std::function<void()> cancel) {
  absl::MutexLock lock(&mu_);
  cancel_ = std::move(cancel);
  if (interrupted_ && cancel_) cancel_();
}

void Interrupter::ClearCancel() {
  absl::MutexLock lock(&mu_);
  cancel_ = nullptr;
}

bool Interrupter::Interrupt() {
  absl::MutexLock lock(&mu_);
  interrupted_ = true;
  if (!cancel_) return false;
  cancel_();
  return true;
}

bool Interrupter::interrupted() const {
  absl::MutexLock lock(&mu_);
  return interrupted_;
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
                     const Clock& clock, std::ostream& out, std::ostream& err,
                     Interrupter* interrupter) {
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
  Invocation& invocation = parsed.invocation;
  const bool json = invocation.global.output == OutputFormat::kJson;

  absl::StatusOr<std::string> api_key = LoadApiKey(invocation.global);
  if (!api_key.ok()) {
    err << "error: " << api_key.status().message() << "\n";
    return kExitFailure;
  }
  if (!invocation.files.input.empty()) {
    if (absl::Status status = LoadInputFile(invocation.files.input, invocation.request);
        !status.ok()) {
      err << "error: " << status.message() << "\n";
      return kExitFailure;
    }
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      CreateBrokerChannel(invocation.global);
  if (!channel.ok()) {
    err << "error: " << channel.status().message() << "\n";
    return kExitFailure;
  }
  std::unique_ptr<Stub> admin = v1::AdminService::NewStub(*channel);
  std::unique_ptr<CertificateStub> certificates = v1::CertificateService::NewStub(*channel);
  if (std::holds_alternative<v1::WatchCertificateRequestsRequest>(invocation.request)) {
    return RunWatch(*certificates, invocation, *api_key, interrupter, out, err);
  }
  if (auto* create = std::get_if<v1::CreateCertificateRequestRequest>(&invocation.request);
      create != nullptr && create->request_id().empty()) {
    // Printed before the call: if it times out, a retry with this ID cannot issue twice.
    create->set_request_id(NewRequestId());
    err << "Request ID: " << create->request_id() << " (generated; retry with --request-id "
        << create->request_id() << " to get the same request, not a second one)\n";
  }
  absl::StatusOr<BrokerResponse> response = CallBroker(
      BrokerStubs{admin.get(), certificates.get()}, invocation.request,
      CallOptions{*std::move(api_key),
                  CallTimeout(invocation.request, invocation.global.timeout)});
  if (!response.ok()) {
    err << FormatCallError(response.status(), invocation.command);
    return kExitFailure;
  }

  const std::string notice = ShownOnceNotice(*response);
  // In json mode stdout holds only the JSON document (for jq); notes go to stderr.
  std::ostream& notes = json ? err : out;
  if (json) {
    absl::StatusOr<std::string> document = RenderJson(*response);
    if (!document.ok()) {
      err << FormatCallError(document.status());
      return kExitFailure;
    }
    out << *document;
  } else {
    out << RenderTable(invocation.request, *response, clock.Now());
  }
  notes << notice;

  int exit_code = kExitSuccess;
  if (const auto* request = std::get_if<v1::CertificateRequest>(&*response)) {
    if (invocation.files.has_outputs()) {
      std::vector<std::string> written;
      absl::Status status = WriteOutputFiles(invocation.files, *request, written);
      for (const std::string& file : written) notes << "Wrote " << file << "\n";
      if (!status.ok()) {
        err << "error: " << status.message() << "\n";
        exit_code = kExitFailure;
      }
    }
    if (std::holds_alternative<v1::CreateCertificateRequestRequest>(invocation.request) &&
        EndedWithoutCertificate(request->state())) {
      exit_code = kExitFailure;
    }
  }
  return exit_code;
}

}  // namespace certbridge::ctl
