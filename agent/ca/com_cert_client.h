// ComCertClient: the AD CS COM calls certbridge makes, in plain C++17 — no Windows
// headers, no Abseil — so that
// - com_cert_client_win.cc (the real thing, #ifdef _WIN32) compiles with mingw-w64 into a
//   probe program without the rest of the agent (tools/windows/build-agent.sh builds both);
// - ComCaBackend (com_ca_backend.h, the absl/CaBackend adapter) compiles and is unit-tested
//   on Linux against a fake ComCertClient.
//
// Every method runs on the client's own COM apartment thread (COINIT_MULTITHREADED), which
// owns the ICertRequest2 and ICertAdmin2 objects; callers on any thread block until it
// answers. Thread-safe.
#ifndef CERTBRIDGE_AGENT_CA_COM_CERT_CLIENT_H_
#define CERTBRIDGE_AGENT_CA_COM_CERT_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace certbridge::agent {

// What one ICertRequest2 exchange produced.
struct ComAnswer {
  // HRESULT of the failing COM call (Submit, RetrievePending, ...); 0 when all calls
  // succeeded. 0x800706BA: RPC server unavailable.
  uint32_t call_hresult = 0;
  std::string failed_call;      // "ICertRequest2::Submit" when call_hresult != 0
  int32_t disposition = 0;      // CR_DISP_*
  int32_t request_id = 0;       // GetRequestId
  uint32_t last_status = 0;     // GetLastStatus
  std::string disposition_message;  // GetDispositionMessage, UTF-8
  std::string certificate_base64;   // GetCertificate(CR_OUT_BASE64), when issued
  std::string chain_pkcs7_base64;   // GetCertificate(CR_OUT_BASE64 | CR_OUT_CHAIN)
  // GetCACertificate / GetCAProperty(CR_PROP_TEMPLATES) results.
  std::string ca_certificate_base64;
  std::string templates;  // "cn\nOID\ncn\nOID..." as the CA publishes them
};

// What one ICertView2 query found.
struct ComViewAnswer {
  // HRESULT of the failing call (OpenConnection, SetRestriction, OpenView, ...); 0 when the
  // query ran. E_ACCESSDENIED 0x80070005: the caller lacks Read on the CA.
  uint32_t call_hresult = 0;
  std::string failed_call;
  std::vector<int32_t> request_ids;  // AttributeRequestId of each matching row, ascending
};

class ComCertClient {
 public:
  virtual ~ComCertClient() = default;
  // ICertRequest2::Submit(CR_IN_BASE64 | CR_IN_PKCS10, request, attributes, config), then
  // GetLastStatus, GetDispositionMessage, GetRequestId and, when issued, GetCertificate.
  virtual ComAnswer Submit(const std::string& csr_base64, const std::string& attributes) = 0;
  // ICertRequest2::RetrievePending(request id, config), then as Submit.
  virtual ComAnswer RetrievePending(int32_t request_id) = 0;
  // ICertAdmin2::RevokeCertificate(config, serial, reason, 0 = now). Returns the HRESULT.
  virtual uint32_t Revoke(const std::string& serial_hex, int32_t reason) = 0;
  // ICertRequest2::GetCACertificate(FALSE, config, CR_OUT_BASE64).
  virtual ComAnswer GetCaCertificate() = 0;
  // ICertRequest2::GetCAProperty(config, CR_PROP_TEMPLATES, 0, PROPTYPE_STRING, 0).
  virtual ComAnswer GetTemplates() = 0;
  // CCertView (ICertView2) on the Request Attributes table (SetTable(CVRC_TABLE_ATTRIBUTES)),
  // restricted to AttributeName == `name` and AttributeValue == `value`, result columns
  // AttributeRequestId and AttributeValue (rows whose value differs are dropped, in case the
  // CA compares without case). A fresh view per call, as certutil -view opens one.
  virtual ComViewAnswer FindRequestIdsByAttribute(const std::string& name,
                                                  const std::string& value) = 0;
  // "HOST\\CA name".
  virtual const std::string& config() const = 0;
};

#ifdef _WIN32
// Starts the COM apartment thread and creates CCertRequest and CCertAdmin on it (CCertView
// is created per FindRequestIdsByAttribute call).
// Returns nullptr and sets *hresult when COM initialisation or CoCreateInstance fails
// (REGDB_E_CLASSNOTREG 0x80040154 where certcli.dll is missing).
std::unique_ptr<ComCertClient> CreateComCertClient(const std::string& config, uint32_t* hresult);
#endif

}  // namespace certbridge::agent

#endif  // CERTBRIDGE_AGENT_CA_COM_CERT_CLIENT_H_
