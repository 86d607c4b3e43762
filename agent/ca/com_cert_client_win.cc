// The real ComCertClient: ICertRequest2 + ICertAdmin2 (+ ICertView2 for lookups) on a COM
// apartment thread of its own. Windows only; compiled on Linux by
// tools/windows/build-agent.sh with mingw-w64. Under Wine, which has no certcli.dll, it runs
// against the stand-in COM server in tools/windows/certcli_standin/.
#ifdef _WIN32

#include <certadm.h>
#include <certcli.h>
#include <certview.h>
#include <objbase.h>
#include <oleauto.h>
#include <windows.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/ca/com_cert_client.h"
#include "common/adcs/certcli_ids_win.h"

namespace certbridge::agent {
namespace {

namespace certcli = adcs::certcli;  // the AD CS COM numbers: common/adcs/certcli_ids_win.h

std::wstring Widen(const std::string& s) {
  if (s.empty()) return std::wstring();
  const int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring w(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), &w[0], n);
  return w;
}

std::string Narrow(const wchar_t* w, size_t len) {
  if (w == nullptr || len == 0) return std::string();
  const int n = WideCharToMultiByte(CP_UTF8, 0, w, static_cast<int>(len), nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, static_cast<int>(len), &s[0], n, nullptr, nullptr);
  return s;
}

// Owns one BSTR.
class Bstr {
 public:
  Bstr() = default;
  explicit Bstr(const std::string& utf8) {
    const std::wstring w = Widen(utf8);
    b_ = SysAllocStringLen(w.data(), static_cast<UINT>(w.size()));
  }
  ~Bstr() { SysFreeString(b_); }
  Bstr(const Bstr&) = delete;
  Bstr& operator=(const Bstr&) = delete;
  BSTR get() const { return b_; }
  BSTR* out() {
    SysFreeString(b_);
    b_ = nullptr;
    return &b_;
  }
  std::string utf8() const { return Narrow(b_, b_ != nullptr ? SysStringLen(b_) : 0); }

 private:
  BSTR b_ = nullptr;
};

class ComCertClientImpl final : public ComCertClient {
 public:
  explicit ComCertClientImpl(std::string config) : config_(std::move(config)) {}

  // Starts the apartment thread; returns the HRESULT of its set-up.
  uint32_t Start() {
    std::promise<HRESULT> ready;
    std::future<HRESULT> started = ready.get_future();
    thread_ = std::thread([this, &ready] { Run(ready); });
    const HRESULT hr = started.get();
    if (FAILED(hr)) thread_.join();
    return static_cast<uint32_t>(hr);
  }

  ~ComCertClientImpl() override {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  ComAnswer Submit(const std::string& csr_base64, const std::string& attributes) override {
    return OnApartment<ComAnswer>([&] {
      ComAnswer a;
      Bstr request(csr_base64), attrs(attributes), config(config_);
      LONG disposition = 0;
      HRESULT hr = request_->Submit(certcli::kCrInBase64 | certcli::kCrInPkcs10, request.get(),
                                    attrs.get(), config.get(), &disposition);
      if (FAILED(hr)) return Failed(a, hr, "ICertRequest2::Submit");
      a.disposition = disposition;
      return Collect(a);
    });
  }

  ComAnswer RetrievePending(int32_t request_id) override {
    return OnApartment<ComAnswer>([&] {
      ComAnswer a;
      Bstr config(config_);
      LONG disposition = 0;
      HRESULT hr = request_->RetrievePending(request_id, config.get(), &disposition);
      if (FAILED(hr)) return Failed(a, hr, "ICertRequest2::RetrievePending");
      a.disposition = disposition;
      return Collect(a);
    });
  }

  uint32_t Revoke(const std::string& serial_hex, int32_t reason) override {
    return OnApartment<uint32_t>([&] {
      Bstr config(config_), serial(serial_hex);
      return static_cast<uint32_t>(admin_->RevokeCertificate(config.get(), serial.get(), reason, 0.0));
    });
  }

  ComAnswer GetCaCertificate() override {
    return OnApartment<ComAnswer>([&] {
      ComAnswer a;
      Bstr config(config_), cert;
      HRESULT hr =
          request_->GetCACertificate(FALSE, config.get(), certcli::kCrOutBase64, cert.out());
      if (FAILED(hr)) return Failed(a, hr, "ICertRequest2::GetCACertificate");
      a.ca_certificate_base64 = cert.utf8();
      return a;
    });
  }

  ComAnswer GetTemplates() override {
    return OnApartment<ComAnswer>([&] {
      ComAnswer a;
      Bstr config(config_);
      VARIANT v;
      VariantInit(&v);
      HRESULT hr = request_->GetCAProperty(config.get(), certcli::kCrPropTemplates, 0,
                                           certcli::kPropTypeString, 0, &v);
      if (FAILED(hr)) return Failed(a, hr, "ICertRequest2::GetCAProperty(CR_PROP_TEMPLATES)");
      if (v.vt == VT_BSTR && v.bstrVal != nullptr) {
        a.templates = Narrow(v.bstrVal, SysStringLen(v.bstrVal));
      }
      VariantClear(&v);
      return a;
    });
  }

  ComViewAnswer FindRequestIdsByAttribute(const std::string& name,
                                          const std::string& value) override {
    return OnApartment<ComViewAnswer>([&] { return QueryAttributes(name, value); });
  }

  const std::string& config() const override { return config_; }

 private:
  static ComViewAnswer ViewFailed(ComViewAnswer& a, HRESULT hr, const char* call) {
    a.call_hresult = static_cast<uint32_t>(hr);
    a.failed_call = call;
    return a;
  }

  // certutil -view -restrict "AttributeName=<name>,AttributeValue=<value>"
  //   -out "AttributeRequestId,AttributeValue" Attrib
  ComViewAnswer QueryAttributes(const std::string& name, const std::string& value) {
    ComViewAnswer a;
    ICertView2* view = nullptr;
    HRESULT hr = CoCreateInstance(certcli::kClsidCertView, nullptr, CLSCTX_INPROC_SERVER,
                                  certcli::kIidCertView2, reinterpret_cast<void**>(&view));
    if (FAILED(hr)) return ViewFailed(a, hr, "CoCreateInstance(CCertView)");
    struct Releaser {
      IUnknown* p;
      ~Releaser() {
        if (p != nullptr) p->Release();
      }
    } view_ref{view};
    Bstr config(config_), name_column("AttributeName"), value_column("AttributeValue"),
        id_column("AttributeRequestId");
    hr = view->OpenConnection(config.get());
    if (FAILED(hr)) return ViewFailed(a, hr, "ICertView2::OpenConnection");
    hr = view->SetTable(certcli::kCvrcTableAttributes);
    if (FAILED(hr)) return ViewFailed(a, hr, "ICertView2::SetTable(CVRC_TABLE_ATTRIBUTES)");
    LONG name_index = 0, value_index = 0, id_index = 0;
    hr = view->GetColumnIndex(certcli::kCvrcColumnSchema, name_column.get(), &name_index);
    if (SUCCEEDED(hr))
      hr = view->GetColumnIndex(certcli::kCvrcColumnSchema, value_column.get(), &value_index);
    if (SUCCEEDED(hr))
      hr = view->GetColumnIndex(certcli::kCvrcColumnSchema, id_column.get(), &id_index);
    if (FAILED(hr)) return ViewFailed(a, hr, "ICertView2::GetColumnIndex");
    for (const auto& [column, text] : {std::pair{name_index, &name}, std::pair{value_index, &value}}) {
      Bstr wanted(*text);
      VARIANT v;
      VariantInit(&v);
      v.vt = VT_BSTR;
      v.bstrVal = wanted.get();  // still owned by `wanted`
      hr = view->SetRestriction(column, certcli::kCvrSeekEq, certcli::kCvrSortNone, &v);
      if (FAILED(hr)) return ViewFailed(a, hr, "ICertView2::SetRestriction");
    }
    hr = view->SetResultColumnCount(2);
    if (SUCCEEDED(hr)) hr = view->SetResultColumn(id_index);
    if (SUCCEEDED(hr)) hr = view->SetResultColumn(value_index);
    if (FAILED(hr)) return ViewFailed(a, hr, "ICertView2::SetResultColumn");
    IEnumCERTVIEWROW* rows = nullptr;
    hr = view->OpenView(&rows);
    if (FAILED(hr)) return ViewFailed(a, hr, "ICertView2::OpenView");
    Releaser rows_ref{rows};
    while (true) {
      LONG row = 0;
      hr = rows->Next(&row);
      if (hr == S_FALSE) break;  // past the last row
      if (FAILED(hr)) return ViewFailed(a, hr, "IEnumCERTVIEWROW::Next");
      IEnumCERTVIEWCOLUMN* columns = nullptr;
      hr = rows->EnumCertViewColumn(&columns);
      if (FAILED(hr)) return ViewFailed(a, hr, "IEnumCERTVIEWROW::EnumCertViewColumn");
      Releaser columns_ref{columns};
      // The columns come in SetResultColumn order: AttributeRequestId, AttributeValue.
      LONG request_id = 0;
      std::string row_value;
      for (int i = 0; i < 2; ++i) {
        LONG index = 0;
        hr = columns->Next(&index);
        if (hr != S_OK) return ViewFailed(a, FAILED(hr) ? hr : E_UNEXPECTED, "IEnumCERTVIEWCOLUMN::Next");
        VARIANT v;
        VariantInit(&v);
        hr = columns->GetValue(certcli::kCvOutBinary, &v);
        if (FAILED(hr)) return ViewFailed(a, hr, "IEnumCERTVIEWCOLUMN::GetValue");
        if (i == 0 && v.vt == VT_I4) request_id = v.lVal;
        if (i == 1 && v.vt == VT_BSTR && v.bstrVal != nullptr) {
          row_value = Narrow(v.bstrVal, SysStringLen(v.bstrVal));
        }
        VariantClear(&v);
      }
      if (request_id > 0 && row_value == value) a.request_ids.push_back(request_id);
    }
    std::sort(a.request_ids.begin(), a.request_ids.end());
    return a;
  }

  static ComAnswer Failed(ComAnswer& a, HRESULT hr, const char* call) {
    a.call_hresult = static_cast<uint32_t>(hr);
    a.failed_call = call;
    return a;
  }

  // After Submit/RetrievePending: GetLastStatus, GetDispositionMessage, GetRequestId and
  // the certificate. A denial returns S_OK from Submit, so these are always read.
  ComAnswer Collect(ComAnswer& a) {
    LONG status = 0, request_id = 0;
    if (SUCCEEDED(request_->GetLastStatus(&status))) a.last_status = static_cast<uint32_t>(status);
    if (SUCCEEDED(request_->GetRequestId(&request_id))) a.request_id = request_id;
    Bstr message;
    if (SUCCEEDED(request_->GetDispositionMessage(message.out()))) {
      a.disposition_message = message.utf8();
    }
    if (a.disposition == certcli::kCrDispIssued || a.disposition == certcli::kCrDispRevoked) {
      Bstr cert, chain;
      HRESULT hr = request_->GetCertificate(certcli::kCrOutBase64, cert.out());
      if (FAILED(hr)) return Failed(a, hr, "ICertRequest2::GetCertificate");
      a.certificate_base64 = cert.utf8();
      if (SUCCEEDED(request_->GetCertificate(certcli::kCrOutBase64 | certcli::kCrOutChain,
                                             chain.out()))) {
        a.chain_pkcs7_base64 = chain.utf8();
      }
    }
    return a;
  }

  template <typename R>
  R OnApartment(std::function<R()> work) {
    std::packaged_task<R()> task(std::move(work));
    std::future<R> result = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.emplace_back([&task] { task(); });
    }
    cv_.notify_all();
    return result.get();
  }

  void Run(std::promise<HRESULT>& ready) {
    HRESULT hr = CoInitializeEx(nullptr, COINIT_MULTITHREADED);
    if (FAILED(hr)) {
      ready.set_value(hr);
      return;
    }
    hr = CoCreateInstance(certcli::kClsidCertRequest, nullptr, CLSCTX_INPROC_SERVER,
                          certcli::kIidCertRequest2, reinterpret_cast<void**>(&request_));
    if (SUCCEEDED(hr)) {
      hr = CoCreateInstance(certcli::kClsidCertAdmin, nullptr, CLSCTX_INPROC_SERVER,
                            certcli::kIidCertAdmin2, reinterpret_cast<void**>(&admin_));
    }
    if (FAILED(hr)) {
      if (request_ != nullptr) request_->Release();
      CoUninitialize();
      ready.set_value(hr);
      return;
    }
    ready.set_value(S_OK);
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
        if (tasks_.empty()) break;  // stop_ and drained
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
    admin_->Release();
    request_->Release();
    CoUninitialize();
  }

  const std::string config_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  // Used only on the apartment thread.
  ICertRequest2* request_ = nullptr;
  ICertAdmin2* admin_ = nullptr;
};

}  // namespace

std::unique_ptr<ComCertClient> CreateComCertClient(const std::string& config, uint32_t* hresult) {
  auto client = std::make_unique<ComCertClientImpl>(config);
  const uint32_t hr = client->Start();
  if (hresult != nullptr) *hresult = hr;
  if (FAILED(static_cast<HRESULT>(hr))) return nullptr;
  return client;
}

}  // namespace certbridge::agent

#endif  // _WIN32
