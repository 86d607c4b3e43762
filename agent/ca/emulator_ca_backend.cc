#include "agent/ca/emulator_ca_backend.h"

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/adcs/error_catalog.h"
#include "common/grpc_status.h"

namespace certbridge::agent {
namespace {

constexpr char kIdentityKey[] = "x-adcsemu-identity";
constexpr char kHresultKey[] = "x-adcsemu-hresult";

void Prepare(grpc::ClientContext& ctx, const std::string& identity, absl::Duration timeout) {
  ctx.AddMetadata(kIdentityKey, identity);
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

std::optional<uint32_t> TrailingHresult(const grpc::ClientContext& ctx) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(kHresultKey);
  if (it == md.end()) return std::nullopt;
  return adcs::ParseHresult(absl::string_view(it->second.data(), it->second.size()));
}

// A failed call as ca_backend.h promises: UNAVAILABLE names 0x800706BA.
absl::Status TransportError(const grpc::Status& s, const grpc::ClientContext& ctx,
                            absl::string_view method, const std::string& target) {
  absl::Status status = FromGrpcStatus(s);
  if (status.code() == absl::StatusCode::kUnavailable) {
    std::string message(status.message());
    if (!absl::StrContains(message, "0x800706BA")) {
      message = absl::StrCat("0x800706BA RPC_S_SERVER_UNAVAILABLE: The RPC server is unavailable. (",
                             message, ")");
    }
    return absl::UnavailableError(
        absl::StrCat("adcs-emulator ", target, ": ", method, ": ", message));
  }
  std::string hr;
  if (auto h = TrailingHresult(ctx)) hr = absl::StrCat(" [", adcs::FormatHresult(*h), "]");
  return absl::Status(status.code(), absl::StrCat("adcs-emulator ", target, ": ", method, ": ",
                                                  status.message(), hr));
}

CaResult ToResult(const adcsemu::v1::CaResponse& r) {
  CaResult out;
  out.disposition = r.disposition();
  out.ca_request_id = r.request_id();
  out.hresult = r.hresult();
  out.disposition_message = r.disposition_message();
  out.certificate_pem = r.certificate_pem();
  out.chain_pem = r.chain_pem();
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmulatorCaBackend>> EmulatorCaBackend::Create(Options options) {
  if (options.target.empty() && options.channel == nullptr) {
    return absl::InvalidArgumentError("emulator CA backend: no emulator address (--emulator HOST:PORT)");
  }
  if (options.identity.empty()) {
    return absl::InvalidArgumentError(
        "emulator CA backend: no identity; give the Windows identity the agent stands for, "
        "e.g. CORP\\AGENT01$");
  }
  std::string config = options.config.empty()
                           ? absl::StrCat(options.target, "\\adcs-emulator")
                           : options.config;
  return std::unique_ptr<EmulatorCaBackend>(new EmulatorCaBackend(std::move(options), config));
}

EmulatorCaBackend::EmulatorCaBackend(Options options, std::string config)
    : options_(std::move(options)), config_(std::move(config)) {
  std::shared_ptr<grpc::Channel> channel =
      options_.channel != nullptr
          ? options_.channel
          : grpc::CreateChannel(options_.target, grpc::InsecureChannelCredentials());
  ca_stub_ = adcsemu::v1::CertificateAuthority::NewStub(channel);
  officer_stub_ = adcsemu::v1::Officer::NewStub(channel);
}

absl::StatusOr<CaResult> EmulatorCaBackend::Submit(const SubmitParams& params) {
  if (params.csr_pem.empty()) {
    return absl::InvalidArgumentError("submit: the certificate request is empty");
  }
  grpc::ClientContext ctx;
  Prepare(ctx, options_.identity, params.timeout);
  adcsemu::v1::SubmitRequest req;
  req.set_request(params.csr_pem);
  req.set_attributes(params.attributes);
  adcsemu::v1::CaResponse resp;
  grpc::Status s = ca_stub_->Submit(&ctx, req, &resp);
  if (!s.ok()) return TransportError(s, ctx, "Submit", options_.target);
  return ToResult(resp);
}

absl::StatusOr<CaResult> EmulatorCaBackend::RetrievePending(const RetrievePendingParams& params) {
  grpc::ClientContext ctx;
  Prepare(ctx, options_.identity, params.timeout);
  adcsemu::v1::RetrievePendingRequest req;
  req.set_request_id(params.ca_request_id);
  adcsemu::v1::CaResponse resp;
  grpc::Status s = ca_stub_->RetrievePending(&ctx, req, &resp);
  if (!s.ok()) return TransportError(s, ctx, "RetrievePending", options_.target);
  return ToResult(resp);
}

absl::StatusOr<RevokeResult> EmulatorCaBackend::Revoke(const RevokeParams& params) {
  if (params.serial_hex.empty()) return absl::InvalidArgumentError("revoke: serial is empty");
  grpc::ClientContext ctx;
  Prepare(ctx, options_.identity, params.timeout);
  adcsemu::v1::RevokeRequest req;
  req.set_serial_hex(params.serial_hex);
  req.set_reason(params.reason);
  adcsemu::v1::RevokeResponse resp;
  grpc::Status s = officer_stub_->Revoke(&ctx, req, &resp);
  if (s.ok()) return RevokeResult{};
  // The CA refused (ICertAdmin2::RevokeCertificate returned an HRESULT): an answer.
  if (std::optional<uint32_t> hr = TrailingHresult(ctx);
      hr.has_value() && s.error_code() != grpc::StatusCode::UNAVAILABLE) {
    return RevokeResult{*hr, s.error_message()};
  }
  return TransportError(s, ctx, "Revoke", options_.target);
}

absl::StatusOr<CaChain> EmulatorCaBackend::GetCaChain(const GetCaChainParams& params) {
  grpc::ClientContext ctx;
  Prepare(ctx, options_.identity, params.timeout);
  adcsemu::v1::GetCaCertificateResponse resp;
  grpc::Status s = ca_stub_->GetCaCertificate(&ctx, adcsemu::v1::GetCaCertificateRequest(), &resp);
  if (!s.ok()) return TransportError(s, ctx, "GetCaCertificate", options_.target);
  CaChain chain;
  chain.certificates_pem.assign(resp.chain_pem().begin(), resp.chain_pem().end());
  return chain;
}

absl::StatusOr<std::vector<CaTemplate>> EmulatorCaBackend::ListTemplates(
    const ListTemplatesParams& params) {
  grpc::ClientContext ctx;
  Prepare(ctx, options_.identity, params.timeout);
  adcsemu::v1::ListTemplatesResponse resp;
  grpc::Status s = ca_stub_->ListTemplates(&ctx, adcsemu::v1::ListTemplatesRequest(), &resp);
  if (!s.ok()) return TransportError(s, ctx, "ListTemplates", options_.target);
  std::vector<CaTemplate> out;
  for (const auto& t : resp.templates()) {
    out.push_back({t.cn(), t.display_name(), t.oid(), t.minimal_key_size(), t.name_flags(),
                   t.enrollment_flags()});
  }
  return out;
}

absl::StatusOr<PingResult> EmulatorCaBackend::Ping(const PingParams& params) {
  grpc::ClientContext ctx;
  Prepare(ctx, options_.identity, params.timeout);
  const absl::Time start = absl::Now();
  adcsemu::v1::PingResponse resp;
  grpc::Status s = ca_stub_->Ping(&ctx, adcsemu::v1::PingRequest(), &resp);
  if (!s.ok()) return TransportError(s, ctx, "Ping", options_.target);
  return PingResult{resp.config(), absl::Now() - start};
}

absl::StatusOr<CaResult> EmulatorCaBackend::FindRequestByAttribute(
    const FindRequestParams& params) {
  if (params.attribute_name.empty()) {
    return absl::InvalidArgumentError("find request: attribute name is empty");
  }
  grpc::ClientContext ctx;
  Prepare(ctx, options_.identity, params.timeout);
  adcsemu::v1::FindRequestsRequest req;
  req.set_attribute_name(params.attribute_name);
  req.set_attribute_value(params.attribute_value);
  adcsemu::v1::FindRequestsResponse resp;
  grpc::Status s = ca_stub_->FindRequests(&ctx, req, &resp);
  if (!s.ok()) return TransportError(s, ctx, "FindRequests", options_.target);
  if (resp.requests().empty()) {
    return absl::NotFoundError(absl::StrCat("CA ", config_, " has no request of ",
                                            options_.identity, " with ", params.attribute_name,
                                            ":", params.attribute_value));
  }
  return ToResult(*resp.requests().rbegin());
}

}  // namespace certbridge::agent
