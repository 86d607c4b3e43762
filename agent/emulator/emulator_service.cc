#include "agent/emulator/emulator_service.h"

#include <string>

#include "common/adcs/error_catalog.h"
#include "common/grpc_status.h"

namespace certbridge::emulator {
namespace {

std::string IdentityOf(const grpc::ServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(kIdentityMetadataKey);
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

grpc::Status Answer(grpc::ServerContext* ctx, const absl::Status& status) {
  if (!status.ok()) {
    if (std::optional<uint32_t> hr = HresultOf(status)) {
      ctx->AddTrailingMetadata(kHresultMetadataKey, adcs::FormatHresult(*hr));
    }
  }
  return ToGrpcStatus(status);
}

template <typename T, typename Resp>
grpc::Status Reply(grpc::ServerContext* ctx, absl::StatusOr<T> result, Resp* resp) {
  if (!result.ok()) return Answer(ctx, result.status());
  *resp = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status MissingIdentity() {
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      std::string("adcs-emulator: no caller identity; send metadata ") +
                          kIdentityMetadataKey + ": DOMAIN\\account");
}

}  // namespace

grpc::Status CertificateAuthorityService::Submit(grpc::ServerContext* ctx,
                                                 const adcsemu::v1::SubmitRequest* req,
                                                 adcsemu::v1::CaResponse* resp) {
  const std::string identity = IdentityOf(ctx);
  if (identity.empty()) return MissingIdentity();
  return Reply(ctx, ca_->Submit(identity, *req), resp);
}

grpc::Status CertificateAuthorityService::RetrievePending(
    grpc::ServerContext* ctx, const adcsemu::v1::RetrievePendingRequest* req,
    adcsemu::v1::CaResponse* resp) {
  const std::string identity = IdentityOf(ctx);
  if (identity.empty()) return MissingIdentity();
  return Reply(ctx, ca_->RetrievePending(identity, req->request_id()), resp);
}

grpc::Status CertificateAuthorityService::GetCaCertificate(
    grpc::ServerContext* ctx, const adcsemu::v1::GetCaCertificateRequest*,
    adcsemu::v1::GetCaCertificateResponse* resp) {
  return Reply(ctx, ca_->GetCaCertificate(), resp);
}

grpc::Status CertificateAuthorityService::ListTemplates(grpc::ServerContext* ctx,
                                                        const adcsemu::v1::ListTemplatesRequest*,
                                                        adcsemu::v1::ListTemplatesResponse* resp) {
  return Reply(ctx, ca_->ListTemplates(), resp);
}

grpc::Status CertificateAuthorityService::Ping(grpc::ServerContext* ctx,
                                               const adcsemu::v1::PingRequest*,
                                               adcsemu::v1::PingResponse* resp) {
  return Reply(ctx, ca_->Ping(), resp);
}

grpc::Status CertificateAuthorityService::FindRequests(
    grpc::ServerContext* ctx, const adcsemu::v1::FindRequestsRequest* req,
    adcsemu::v1::FindRequestsResponse* resp) {
  const std::string identity = IdentityOf(ctx);
  if (identity.empty()) return MissingIdentity();
  return Reply(ctx, ca_->FindRequests(identity, req->attribute_name(), req->attribute_value()),
               resp);
}

grpc::Status OfficerService::Resubmit(grpc::ServerContext* ctx,
                                      const adcsemu::v1::RequestIdRequest* req,
                                      adcsemu::v1::CaResponse* resp) {
  return Reply(ctx, ca_->Resubmit(IdentityOf(ctx), req->request_id()), resp);
}

grpc::Status OfficerService::Deny(grpc::ServerContext* ctx, const adcsemu::v1::RequestIdRequest* req,
                                  adcsemu::v1::CaResponse* resp) {
  return Reply(ctx, ca_->Deny(IdentityOf(ctx), req->request_id()), resp);
}

grpc::Status OfficerService::Revoke(grpc::ServerContext* ctx, const adcsemu::v1::RevokeRequest* req,
                                    adcsemu::v1::RevokeResponse* resp) {
  return Reply(ctx, ca_->Revoke(IdentityOf(ctx), req->serial_hex(), req->reason()), resp);
}

grpc::Status OfficerService::PublishCrl(grpc::ServerContext* ctx,
                                        const adcsemu::v1::PublishCrlRequest*,
                                        adcsemu::v1::CrlResponse* resp) {
  return Reply(ctx, ca_->PublishCrl(IdentityOf(ctx)), resp);
}

grpc::Status OfficerService::GetCrl(grpc::ServerContext* ctx, const adcsemu::v1::GetCrlRequest*,
                                    adcsemu::v1::CrlResponse* resp) {
  return Reply(ctx, ca_->GetCrl(IdentityOf(ctx)), resp);
}

grpc::Status OfficerService::ListRequests(grpc::ServerContext* ctx,
                                          const adcsemu::v1::ListRequestsRequest*,
                                          adcsemu::v1::ListRequestsResponse* resp) {
  return Reply(ctx, ca_->ListRequests(IdentityOf(ctx)), resp);
}

grpc::Status OfficerService::SetFaults(grpc::ServerContext*, const adcsemu::v1::SetFaultsRequest* req,
                                       adcsemu::v1::FaultsResponse* resp) {
  ca_->SetFaults(req->faults());
  *resp->mutable_faults() = ca_->faults();
  return grpc::Status::OK;
}

grpc::Status OfficerService::ClearFaults(grpc::ServerContext*, const adcsemu::v1::ClearFaultsRequest*,
                                         adcsemu::v1::FaultsResponse* resp) {
  ca_->SetFaults(adcsemu::v1::Faults());
  *resp->mutable_faults() = ca_->faults();
  return grpc::Status::OK;
}

}  // namespace certbridge::emulator
