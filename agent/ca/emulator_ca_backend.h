// EmulatorCaBackend: CaBackend over adcs-emulator's gRPC API (proto/adcsemu/v1). The
// agent's Windows identity travels as metadata `x-adcsemu-identity` (the emulator's
// stand-in for Kerberos; plaintext, loopback/lab use only). Every call carries the
// deadline from its params.
//
//   ASSIGN_OR_RETURN(auto backend, EmulatorCaBackend::Create({
//       .target = "127.0.0.1:40123", .identity = "CORP\\AGENT01$",
//       .config = "adcs01.corp.example\\Corp Issuing CA"}));
//
// Errors as in ca_backend.h: gRPC UNAVAILABLE (emulator down, or its "unavailable" fault)
// becomes absl UNAVAILABLE naming 0x800706BA. Thread-safe.
#ifndef CERTBRIDGE_AGENT_CA_EMULATOR_CA_BACKEND_H_
#define CERTBRIDGE_AGENT_CA_EMULATOR_CA_BACKEND_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "adcsemu/v1/emulator.grpc.pb.h"
#include "agent/ca/ca_backend.h"

namespace certbridge::agent {

class EmulatorCaBackend final : public CaBackend {
 public:
  struct Options {
    std::string target;    // "127.0.0.1:PORT" (gRPC target)
    std::string identity;  // "CORP\\AGENT01$"; required
    // The CA config string the agent was told to use ("host\\CA"). Informational: the
    // emulator serves one CA; empty = "<target>\\adcs-emulator".
    std::string config;
    // Optional channel (tests); otherwise an insecure channel to `target` is created.
    std::shared_ptr<grpc::Channel> channel;
  };

  // INVALID_ARGUMENT when target or identity is empty. Does not connect.
  static absl::StatusOr<std::unique_ptr<EmulatorCaBackend>> Create(Options options);

  std::string config() const override { return config_; }
  absl::StatusOr<CaResult> Submit(const SubmitParams& params) override;
  absl::StatusOr<CaResult> RetrievePending(const RetrievePendingParams& params) override;
  absl::StatusOr<RevokeResult> Revoke(const RevokeParams& params) override;
  absl::StatusOr<CaChain> GetCaChain(const GetCaChainParams& params) override;
  absl::StatusOr<std::vector<CaTemplate>> ListTemplates(const ListTemplatesParams& params) override;
  absl::StatusOr<PingResult> Ping(const PingParams& params) override;
  absl::StatusOr<CaResult> FindRequestByAttribute(const FindRequestParams& params) override;

 private:
  EmulatorCaBackend(Options options, std::string config);

  const Options options_;
  const std::string config_;
  std::unique_ptr<adcsemu::v1::CertificateAuthority::Stub> ca_stub_;
  std::unique_ptr<adcsemu::v1::Officer::Stub> officer_stub_;
};

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CA_EMULATOR_CA_BACKEND_H_
