// EmulatorLink: the stand-in COM server's connection to adcs-emulator (gRPC, plaintext, on
// loopback; proto/adcsemu/v1/emulator.proto), speaking as the identity the registry names.
//
// Configuration, read from the registry of the Wine prefix (register-standin.sh writes it),
// HKLM\SOFTWARE\Certbridge\CertCliStandIn:
//   Emulator  REG_SZ  "127.0.0.1:PORT"    the emulator's address (required)
//   Identity  REG_SZ  "CORP\AGENT01$"     who the CA believes the caller is; on Windows this
//                                         is the Kerberos identity of the calling account
// Read at each object creation, so a test may re-point the stand-in without restarting.
//
// Errors come back as the HRESULT a real CA client would see: 0x800706BA
// (RPC_S_SERVER_UNAVAILABLE) when the emulator cannot be reached or answers UNAVAILABLE,
// 0x800706BE (RPC_S_CALL_FAILED) on a deadline, the emulator's own HRESULT (trailing
// metadata x-adcsemu-hresult) for a refusal, E_FAIL otherwise.
// Thread-safe (gRPC stubs are).
#ifndef CERTBRIDGE_TOOLS_WINDOWS_CERTCLI_STANDIN_EMULATOR_LINK_H_
#define CERTBRIDGE_TOOLS_WINDOWS_CERTCLI_STANDIN_EMULATOR_LINK_H_

#include <windows.h>
#include <oleauto.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "adcsemu/v1/emulator.grpc.pb.h"

namespace certbridge::standin {

inline constexpr HRESULT kRpcServerUnavailable = static_cast<HRESULT>(0x800706BA);
inline constexpr HRESULT kRpcCallFailed = static_cast<HRESULT>(0x800706BE);

class EmulatorLink {
 public:
  // nullptr when the registry has no Emulator value (then every call gets 0x800706BA).
  static std::shared_ptr<EmulatorLink> FromRegistry();

  // Whether `config` ("HOST\CA name", any case) is the emulator's CA. A stand-in choice: a
  // config naming another CA gets 0x800706BA, as a client pointed at an unknown host would.
  HRESULT CheckConfig(const std::string& config);

  HRESULT Submit(const std::string& request, const std::string& attributes,
                 adcsemu::v1::CaResponse* out);
  HRESULT RetrievePending(int64_t request_id, adcsemu::v1::CaResponse* out);
  HRESULT GetCaCertificate(adcsemu::v1::GetCaCertificateResponse* out);
  HRESULT ListTemplates(adcsemu::v1::ListTemplatesResponse* out);
  HRESULT FindRequests(const std::string& name, const std::string& value,
                       adcsemu::v1::FindRequestsResponse* out);
  HRESULT Revoke(const std::string& serial_hex, int32_t reason);
  HRESULT Resubmit(int64_t request_id, adcsemu::v1::CaResponse* out);
  HRESULT Deny(int64_t request_id);
  HRESULT PublishCrl();

 private:
  EmulatorLink(std::string target, std::string identity);
  void Prepare(grpc::ClientContext* ctx, int timeout_seconds) const;

  const std::string target_;
  const std::string identity_;
  std::unique_ptr<adcsemu::v1::CertificateAuthority::Stub> ca_;
  std::unique_ptr<adcsemu::v1::Officer::Stub> officer_;
  std::mutex mu_;
  std::string config_;  // the emulator's "host\name", once known
};

// UTF-16 <-> UTF-8, and BSTRs.
std::string Narrow(const wchar_t* w, size_t len);
std::string FromBstr(BSTR b);
BSTR ToBstr(const std::string& utf8);

// Base64 without line breaks / with CRLF every 64 characters (what certcli returns for
// CR_OUT_BASE64); decoding skips whitespace. false on a character outside the alphabet.
std::string Base64Encode(const std::string& bytes, bool crlf_lines);
bool Base64Decode(const std::string& text, std::string* bytes);
// The DER of each PEM block labelled `label` in `pem`, in order.
std::vector<std::string> PemBlocks(const std::string& pem, const std::string& label);

// Writes "certcli-standin: <line>" to stderr (the calling program's log).
void Trace(const std::string& line);

}  // namespace certbridge::standin

#endif  // CERTBRIDGE_TOOLS_WINDOWS_CERTCLI_STANDIN_EMULATOR_LINK_H_
