#include "tools/windows/certcli_standin/emulator_link.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <grpcpp/grpcpp.h>

namespace certbridge::standin {
namespace {

constexpr wchar_t kRegistryKey[] = L"SOFTWARE\\Certbridge\\CertCliStandIn";
constexpr char kIdentityKey[] = "x-adcsemu-identity";
constexpr char kHresultKey[] = "x-adcsemu-hresult";
// A COM call has no deadline of its own; these only keep a dead emulator from hanging the
// caller forever (the emulator's fault injection adds latency to CA calls).
constexpr int kCaCallSeconds = 120;
constexpr int kOfficerCallSeconds = 30;

std::string RegistryString(const wchar_t* name) {
  DWORD bytes = 0;
  if (RegGetValueW(HKEY_LOCAL_MACHINE, kRegistryKey, name, RRF_RT_REG_SZ, nullptr, nullptr,
                   &bytes) != ERROR_SUCCESS ||
      bytes < sizeof(wchar_t)) {
    return std::string();
  }
  std::wstring value(bytes / sizeof(wchar_t), L'\0');
  if (RegGetValueW(HKEY_LOCAL_MACHINE, kRegistryKey, name, RRF_RT_REG_SZ, nullptr, &value[0],
                   &bytes) != ERROR_SUCCESS) {
    return std::string();
  }
  value.resize(wcsnlen(value.c_str(), value.size()));
  return Narrow(value.data(), value.size());
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

// A failed gRPC call as the HRESULT a COM client of a real CA would get.
HRESULT FromGrpc(const grpc::Status& s, const grpc::ClientContext& ctx, const char* method) {
  HRESULT hr = E_FAIL;
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    hr = kRpcServerUnavailable;
  } else if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    hr = kRpcCallFailed;
  } else {
    const auto& md = ctx.GetServerTrailingMetadata();
    auto it = md.find(kHresultKey);
    if (it != md.end()) {
      const std::string text(it->second.data(), it->second.size());
      hr = static_cast<HRESULT>(std::strtoul(text.c_str(), nullptr, 16));
    }
  }
  char line[64];
  std::snprintf(line, sizeof(line), " -> 0x%08lX", static_cast<unsigned long>(hr));
  Trace(std::string(method) + ": gRPC " + std::to_string(s.error_code()) + " " +
        s.error_message() + line);
  return hr;
}

}  // namespace

std::shared_ptr<EmulatorLink> EmulatorLink::FromRegistry() {
  const std::string target = RegistryString(L"Emulator");
  if (target.empty()) {
    Trace("no emulator address in HKLM\\SOFTWARE\\Certbridge\\CertCliStandIn\\Emulator");
    return nullptr;
  }
  return std::shared_ptr<EmulatorLink>(new EmulatorLink(target, RegistryString(L"Identity")));
}

EmulatorLink::EmulatorLink(std::string target, std::string identity)
    : target_(std::move(target)), identity_(std::move(identity)) {
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
  ca_ = adcsemu::v1::CertificateAuthority::NewStub(channel);
  officer_ = adcsemu::v1::Officer::NewStub(channel);
}

void EmulatorLink::Prepare(grpc::ClientContext* ctx, int timeout_seconds) const {
  ctx->AddMetadata(kIdentityKey, identity_);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_seconds));
}

HRESULT EmulatorLink::CheckConfig(const std::string& config) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!config_.empty()) return Lower(config) == config_ ? S_OK : kRpcServerUnavailable;
  }
  grpc::ClientContext ctx;
  Prepare(&ctx, kOfficerCallSeconds);
  adcsemu::v1::PingResponse resp;
  grpc::Status s = ca_->Ping(&ctx, adcsemu::v1::PingRequest(), &resp);
  if (!s.ok()) return FromGrpc(s, ctx, "Ping");
  std::lock_guard<std::mutex> lock(mu_);
  config_ = Lower(resp.config());
  if (Lower(config) == config_) return S_OK;
  Trace("config \"" + config + "\" is not the emulator's CA \"" + resp.config() + "\"");
  return kRpcServerUnavailable;
}

HRESULT EmulatorLink::Submit(const std::string& request, const std::string& attributes,
                             adcsemu::v1::CaResponse* out) {
  grpc::ClientContext ctx;
  Prepare(&ctx, kCaCallSeconds);
  adcsemu::v1::SubmitRequest req;
  req.set_request(request);
  req.set_attributes(attributes);
  grpc::Status s = ca_->Submit(&ctx, req, out);
  return s.ok() ? S_OK : FromGrpc(s, ctx, "Submit");
}

HRESULT EmulatorLink::RetrievePending(int64_t request_id, adcsemu::v1::CaResponse* out) {
  grpc::ClientContext ctx;
  Prepare(&ctx, kCaCallSeconds);
  adcsemu::v1::RetrievePendingRequest req;
  req.set_request_id(request_id);
  grpc::Status s = ca_->RetrievePending(&ctx, req, out);
  return s.ok() ? S_OK : FromGrpc(s, ctx, "RetrievePending");
}

HRESULT EmulatorLink::GetCaCertificate(adcsemu::v1::GetCaCertificateResponse* out) {
  grpc::ClientContext ctx;
  Prepare(&ctx, kCaCallSeconds);
  grpc::Status s = ca_->GetCaCertificate(&ctx, adcsemu::v1::GetCaCertificateRequest(), out);
  return s.ok() ? S_OK : FromGrpc(s, ctx, "GetCaCertificate");
}

HRESULT EmulatorLink::ListTemplates(adcsemu::v1::ListTemplatesResponse* out) {
  grpc::ClientContext ctx;
  Prepare(&ctx, kCaCallSeconds);
  grpc::Status s = ca_->ListTemplates(&ctx, adcsemu::v1::ListTemplatesRequest(), out);
  return s.ok() ? S_OK : FromGrpc(s, ctx, "ListTemplates");
}

HRESULT EmulatorLink::FindRequests(const std::string& name, const std::string& value,
                                   adcsemu::v1::FindRequestsResponse* out) {
  grpc::ClientContext ctx;
  Prepare(&ctx, kCaCallSeconds);
  adcsemu::v1::FindRequestsRequest req;
  req.set_attribute_name(name);
  req.set_attribute_value(value);
  grpc::Status s = ca_->FindRequests(&ctx, req, out);
  return s.ok() ? S_OK : FromGrpc(s, ctx, "FindRequests");
}

HRESULT EmulatorLink::Revoke(const std::string& serial_hex, int32_t reason) {
  grpc::ClientContext ctx;
  Prepare(&ctx, kOfficerCallSeconds);
  adcsemu::v1::RevokeRequest req;
  req.set_serial_hex(serial_hex);
  req.set_reason(reason);
  adcsemu::v1::RevokeResponse resp;
  grpc::Status s = officer_->Revoke(&ctx, req, &resp);
  return s.ok() ? S_OK : FromGrpc(s, ctx, "Revoke");
}

HRESULT EmulatorLink::Resubmit(int64_t request_id, adcsemu::v1::CaResponse* out) {
  grpc::ClientContext ctx;
  Prepare(&ctx, kOfficerCallSeconds);
  adcsemu::v1::RequestIdRequest req;
  req.set_request_id(request_id);
  grpc::Status s = officer_->Resubmit(&ctx, req, out);
  return s.ok() ? S_OK : FromGrpc(s, ctx, "Resubmit");
}

HRESULT EmulatorLink::Deny(int64_t request_id) {
  grpc::ClientContext ctx;
  Prepare(&ctx, kOfficerCallSeconds);
  adcsemu::v1::RequestIdRequest req;
  req.set_request_id(request_id);
  adcsemu::v1::CaResponse resp;
  grpc::Status s = officer_->Deny(&ctx, req, &resp);
  return s.ok() ? S_OK : FromGrpc(s, ctx, "Deny");
}

HRESULT EmulatorLink::PublishCrl() {
  grpc::ClientContext ctx;
  Prepare(&ctx, kOfficerCallSeconds);
  adcsemu::v1::CrlResponse resp;
  grpc::Status s = officer_->PublishCrl(&ctx, adcsemu::v1::PublishCrlRequest(), &resp);
  return s.ok() ? S_OK : FromGrpc(s, ctx, "PublishCrl");
}

std::string Narrow(const wchar_t* w, size_t len) {
  if (w == nullptr || len == 0) return std::string();
  const int n =
      WideCharToMultiByte(CP_UTF8, 0, w, static_cast<int>(len), nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, static_cast<int>(len), &s[0], n, nullptr, nullptr);
  return s;
}

std::string FromBstr(BSTR b) { return b == nullptr ? std::string() : Narrow(b, SysStringLen(b)); }

BSTR ToBstr(const std::string& utf8) {
  if (utf8.empty()) return SysAllocStringLen(L"", 0);
  const int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()),
                                    nullptr, 0);
  BSTR b = SysAllocStringLen(nullptr, static_cast<UINT>(n));
  if (b != nullptr) {
    MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), b, n);
  }
  return b;
}

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string Base64Encode(const std::string& bytes, bool crlf_lines) {
  std::string out;
  size_t column = 0;
  auto put = [&](char c) {
    out.push_back(c);
    if (crlf_lines && ++column == 64) {
      out += "\r\n";
      column = 0;
    }
  };
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t b0 = static_cast<unsigned char>(bytes[i]);
    const uint32_t b1 = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0;
    const uint32_t b2 = i + 2 < bytes.size() ? static_cast<unsigned char>(bytes[i + 2]) : 0;
    const uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    put(kAlphabet[(v >> 18) & 63]);
    put(kAlphabet[(v >> 12) & 63]);
    put(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
    put(i + 2 < bytes.size() ? kAlphabet[v & 63] : '=');
  }
  if (crlf_lines && column != 0) out += "\r\n";
  return out;
}

bool Base64Decode(const std::string& text, std::string* bytes) {
  bytes->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == ' ' || c == '\t') continue;
    if (c == '=') break;
    const char* p = std::strchr(kAlphabet, c);
    if (p == nullptr || c == '\0') return false;
    acc = (acc << 6) | static_cast<uint32_t>(p - kAlphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

std::vector<std::string> PemBlocks(const std::string& pem, const std::string& label) {
  std::vector<std::string> out;
  const std::string begin = "-----BEGIN " + label + "-----";
  const std::string end = "-----END " + label + "-----";
  size_t pos = 0;
  while ((pos = pem.find(begin, pos)) != std::string::npos) {
    const size_t body = pos + begin.size();
    const size_t stop = pem.find(end, body);
    if (stop == std::string::npos) break;
    std::string der;
    if (Base64Decode(pem.substr(body, stop - body), &der)) out.push_back(std::move(der));
    pos = stop + end.size();
  }
  return out;
}

void Trace(const std::string& line) {
  std::fprintf(stderr, "certcli-standin: %s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace certbridge::standin
