// gRPC wiring of EmulatorCa (sync API: the emulator is a lab tool and its handlers block on
// RSA signing and fsync; gRPC's sync server runs them on its own bounded thread pool, so no
// reactor thread ever blocks).
//
// The caller's identity is the metadata value `x-adcsemu-identity` (lab stand-in for
// Kerberos). EmulatorCa errors keep their code; their HRESULT is also sent as trailing
// metadata `x-adcsemu-hresult` ("0x800706BA").
#ifndef CERTBRIDGE_AGENT_EMULATOR_EMULATOR_SERVICE_H_
#define CERTBRIDGE_AGENT_EMULATOR_EMULATOR_SERVICE_H_

#include "adcsemu/v1/emulator.grpc.pb.h"
#include "agent/emulator/emulator_ca.h"

namespace certbridge::emulator {

inline constexpr char kIdentityMetadataKey[] = "x-adcsemu-identity";
inline constexpr char kHresultMetadataKey[] = "x-adcsemu-hresult";

class CertificateAuthorityService final : public adcsemu::v1::CertificateAuthority::Service {
 public:
  explicit CertificateAuthorityService(EmulatorCa* ca) : ca_(ca) {}
  grpc::Status Submit(grpc::ServerContext* ctx, const adcsemu::v1::SubmitRequest* req,
                      adcsemu::v1::CaResponse* resp) override;
  grpc::Status RetrievePending(grpc::ServerContext* ctx,
                               const adcsemu::v1::RetrievePendingRequest* req,
                               adcsemu::v1::CaResponse* resp) override;
  grpc::Status GetCaCertificate(grpc::ServerContext* ctx,
                                const adcsemu::v1::GetCaCertificateRequest* req,
                                adcsemu::v1::GetCaCertificateResponse* resp) override;
  grpc::Status ListTemplates(grpc::ServerContext* ctx, const adcsemu::v1::ListTemplatesRequest* req,
                             adcsemu::v1::ListTemplatesResponse* resp) override;
  grpc::Status Ping(grpc::ServerContext* ctx, const adcsemu::v1::PingRequest* req,
                    adcsemu::v1::PingResponse* resp) override;
  grpc::Status FindRequests(grpc::ServerContext* ctx, const adcsemu::v1::FindRequestsRequest* req,
                            adcsemu::v1::FindRequestsResponse* resp) override;

 private:
  EmulatorCa* ca_;  // not owned
};

class OfficerService final : public adcsemu::v1::Officer::Service {
 public:
  explicit OfficerService(EmulatorCa* ca) : ca_(ca) {}
  grpc::Status Resubmit(grpc::ServerContext* ctx, const adcsemu::v1::RequestIdRequest* req,
                        adcsemu::v1::CaResponse* resp) override;
  grpc::Status Deny(grpc::ServerContext* ctx, const adcsemu::v1::RequestIdRequest* req,
                    adcsemu::v1::CaResponse* resp) override;
  grpc::Status Revoke(grpc::ServerContext* ctx, const adcsemu::v1::RevokeRequest* req,
                      adcsemu::v1::RevokeResponse* resp) override;
  grpc::Status PublishCrl(grpc::ServerContext* ctx, const adcsemu::v1::PublishCrlRequest* req,
                          adcsemu::v1::CrlResponse* resp) override;
  grpc::Status GetCrl(grpc::ServerContext* ctx, const adcsemu::v1::GetCrlRequest* req,
                      adcsemu::v1::CrlResponse* resp) override;
  grpc::Status ListRequests(grpc::ServerContext* ctx, const adcsemu::v1::ListRequestsRequest* req,
                            adcsemu::v1::ListRequestsResponse* resp) override;
  grpc::Status SetFaults(grpc::ServerContext* ctx, const adcsemu::v1::SetFaultsRequest* req,
                         adcsemu::v1::FaultsResponse* resp) override;
  grpc::Status ClearFaults(grpc::ServerContext* ctx, const adcsemu::v1::ClearFaultsRequest* req,
                           adcsemu::v1::FaultsResponse* resp) override;

 private:
  EmulatorCa* ca_;  // not owned
};

}  // namespace certbridge::emulator

#endif  // CERTBRIDGE_AGENT_EMULATOR_EMULATOR_SERVICE_H_
