// certcli_standin.dll: an in-process COM server standing in for certcli.dll / certadm.dll
// under Wine, which has neither. Registered in a Wine prefix under the real CLSIDs of
// CCertRequest, CCertAdmin and CCertView (register-standin.sh), it answers the vtable calls
// of ICertRequest2, ICertAdmin2 and ICertView2 by forwarding them to adcs-emulator
// (emulator_link.h), so that the agent's unchanged ComCertClient / ComCaBackend code runs
// its COM path for real. A TEST TOOL: never installed on a customer's host.
//
// What is implemented, and how it differs from AD CS:
// - ICertRequest2: Submit (CR_IN_BASE64HEADER / BASE64 / BINARY with CR_IN_PKCS10),
//   RetrievePending, GetLastStatus, GetRequestId, GetDispositionMessage, GetCertificate
//   (CR_OUT_BASE64HEADER / BASE64 / BINARY, | CR_OUT_CHAIN for a certs-only PKCS#7),
//   GetCACertificate, GetCAProperty(CR_PROP_TEMPLATES). A denial is S_OK with the
//   disposition, as on AD CS.
// - ICertAdmin2: RevokeCertificate, ResubmitRequest, DenyRequest, PublishCRL(s).
// - ICertView2: only the Request Attributes table (SetTable(CVRC_TABLE_ATTRIBUTES)), only
//   equality restrictions on AttributeName and AttributeValue (both required), result
//   columns AttributeRequestId / AttributeName / AttributeValue. Unlike AD CS, the rows are
//   only the caller's own requests (the emulator's FindRequests); AD CS shows every
//   requester's rows to a caller with Read on the CA.
// - Everything else returns E_NOTIMPL, so a new call in ComCertClient fails loudly here
//   instead of silently doing nothing. IDispatch is not implemented (no type library):
//   the agent calls through vtables.
#include <certadm.h>
#include <certcli.h>
#include <certview.h>
#include <objbase.h>
#include <oleauto.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <windows.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/adcs/certcli_ids_win.h"
#include "tools/windows/certcli_standin/emulator_link.h"

namespace certbridge::standin {
namespace {

namespace certcli = adcs::certcli;  // the AD CS COM numbers: common/adcs/certcli_ids_win.h

// IUnknown (+ empty IDispatch) for an object exposing `Iface` and the IIDs in `iids`.
template <typename Iface>
class ComObject : public Iface {
 public:
  explicit ComObject(std::vector<GUID> iids) : iids_(std::move(iids)) {}
  virtual ~ComObject() = default;
  ComObject(const ComObject&) = delete;
  ComObject& operator=(const ComObject&) = delete;

  HRESULT WINAPI QueryInterface(REFIID riid, void** out) override {
    if (out == nullptr) return E_POINTER;
    bool known = IsEqualGUID(riid, IID_IUnknown) || IsEqualGUID(riid, IID_IDispatch);
    for (const GUID& iid : iids_) known = known || IsEqualGUID(riid, iid);
    if (!known) {
      *out = nullptr;
      return E_NOINTERFACE;
    }
    *out = static_cast<Iface*>(this);
    this->AddRef();
    return S_OK;
  }
  ULONG WINAPI AddRef() override { return ++refs_; }
  ULONG WINAPI Release() override {
    const ULONG left = --refs_;
    if (left == 0) delete this;
    return left;
  }
  HRESULT WINAPI GetTypeInfoCount(UINT* count) override {
    if (count == nullptr) return E_POINTER;
    *count = 0;
    return S_OK;
  }
  HRESULT WINAPI GetTypeInfo(UINT, LCID, ITypeInfo**) override { return E_NOTIMPL; }
  HRESULT WINAPI GetIDsOfNames(REFIID, LPOLESTR*, UINT, LCID, DISPID*) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI Invoke(DISPID, REFIID, LCID, WORD, DISPPARAMS*, VARIANT*, EXCEPINFO*,
                        UINT*) override {
    return E_NOTIMPL;
  }

 private:
  const std::vector<GUID> iids_;
  std::atomic<ULONG> refs_{1};
};

// A BSTR holding raw bytes (CR_OUT_BINARY), or text.
BSTR BytesToBstr(const std::string& bytes) {
  return SysAllocStringByteLen(bytes.data(), static_cast<UINT>(bytes.size()));
}

// certcli's output encodings of one DER object.
HRESULT Encode(const std::string& der, LONG flags, const char* label, BSTR* out) {
  if (out == nullptr) return E_POINTER;
  switch (flags & 0xff) {
    case certcli::kCrOutBase64Header:
      *out = ToBstr(std::string("-----BEGIN ") + label + "-----\r\n" + Base64Encode(der, true) +
                    "-----END " + label + "-----\r\n");
      return S_OK;
    case certcli::kCrOutBase64:
      *out = ToBstr(Base64Encode(der, true));
      return S_OK;
    case certcli::kCrOutBinary:
      *out = BytesToBstr(der);
      return S_OK;
    default:
      return E_INVALIDARG;
  }
}

// A certs-only PKCS#7 SignedData of the DER certificates, leaf first.
std::optional<std::string> Pkcs7Of(const std::vector<std::string>& ders) {
  PKCS7* p7 = PKCS7_new();
  bool ok = p7 != nullptr && PKCS7_set_type(p7, NID_pkcs7_signed) == 1 &&
            PKCS7_content_new(p7, NID_pkcs7_data) == 1;
  for (const std::string& der : ders) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    X509* x = ok ? d2i_X509(nullptr, &p, static_cast<long>(der.size())) : nullptr;
    ok = x != nullptr && PKCS7_add_certificate(p7, x) == 1;
    X509_free(x);
  }
  std::optional<std::string> out;
  unsigned char* buf = nullptr;
  const int n = ok ? i2d_PKCS7(p7, &buf) : -1;
  if (n > 0) out = std::string(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  OPENSSL_free(buf);
  PKCS7_free(p7);
  return out;
}

HRESULT NoLink() { return kRpcServerUnavailable; }

// ---------------------------------------------------------------------------------------
// CCertRequest

class CertRequest final : public ComObject<ICertRequest2> {
 public:
  CertRequest()
      : ComObject({certcli::kIidCertRequest, certcli::kIidCertRequest2}),
        link_(EmulatorLink::FromRegistry()) {}

  HRESULT WINAPI Submit(LONG flags, const BSTR request, const BSTR attributes, const BSTR config,
                        LONG* disposition) override {
    if (disposition == nullptr) return E_POINTER;
    if ((flags & certcli::kCrInFormatMask) != certcli::kCrInPkcs10 &&
        (flags & certcli::kCrInFormatMask) != 0) {
      return E_NOTIMPL;  // PKCS#7, CMC, KEYGEN: the agent sends PKCS#10 only
    }
    std::string body;
    switch (flags & certcli::kCrInEncodeMask) {
      case 0x0:  // CR_IN_BASE64HEADER: PEM as is
        body = FromBstr(request);
        break;
      case 0x1: {  // CR_IN_BASE64
        std::string der;
        if (!Base64Decode(FromBstr(request), &der)) return CRYPT_E_ASN1_BADTAG;
        body = der;
        break;
      }
      case 0x2:  // CR_IN_BINARY
        body.assign(reinterpret_cast<const char*>(request), SysStringByteLen(request));
        break;
      default:
        return E_INVALIDARG;
    }
    HRESULT hr = Check(config);
    if (FAILED(hr)) return Forget(hr);
    adcsemu::v1::CaResponse response;
    hr = link_->Submit(body, FromBstr(attributes), &response);
    if (FAILED(hr)) return Forget(hr);
    return Remember(response, disposition);
  }

  HRESULT WINAPI RetrievePending(LONG request_id, const BSTR config, LONG* disposition) override {
    if (disposition == nullptr) return E_POINTER;
    HRESULT hr = Check(config);
    if (FAILED(hr)) return Forget(hr);
    adcsemu::v1::CaResponse response;
    hr = link_->RetrievePending(request_id, &response);
    if (FAILED(hr)) return Forget(hr);
    return Remember(response, disposition);
  }

  HRESULT WINAPI GetLastStatus(LONG* status) override {
    if (status == nullptr) return E_POINTER;
    std::lock_guard<std::mutex> lock(mu_);
    *status = static_cast<LONG>(last_.hresult());
    return S_OK;
  }

  HRESULT WINAPI GetRequestId(LONG* request_id) override {
    if (request_id == nullptr) return E_POINTER;
    std::lock_guard<std::mutex> lock(mu_);
    *request_id = static_cast<LONG>(last_.request_id());
    return S_OK;
  }

  HRESULT WINAPI GetDispositionMessage(BSTR* message) override {
    if (message == nullptr) return E_POINTER;
    std::lock_guard<std::mutex> lock(mu_);
    *message = ToBstr(last_.disposition_message());
    return S_OK;
  }

  HRESULT WINAPI GetCACertificate(LONG exchange, const BSTR config, LONG flags,
                                  BSTR* certificate) override {
    if (certificate == nullptr) return E_POINTER;
    if (exchange != FALSE) return E_NOTIMPL;  // the CA exchange certificate: not used
    HRESULT hr = Check(config);
    if (FAILED(hr)) return hr;
    adcsemu::v1::GetCaCertificateResponse response;
    hr = link_->GetCaCertificate(&response);
    if (FAILED(hr)) return hr;
    std::vector<std::string> ders;
    if (response.chain_pem_size() > 0) ders = PemBlocks(response.chain_pem(0), "CERTIFICATE");
    if (ders.empty()) return certcli::kPropertyEmpty;
    return Encode(ders.front(), flags, "CERTIFICATE", certificate);
  }

  HRESULT WINAPI GetCertificate(LONG flags, BSTR* certificate) override {
    if (certificate == nullptr) return E_POINTER;
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> leaf = PemBlocks(last_.certificate_pem(), "CERTIFICATE");
    if (leaf.empty()) return certcli::kPropertyEmpty;
    if ((flags & certcli::kCrOutChain) == 0)
      return Encode(leaf.front(), flags, "CERTIFICATE", certificate);
    for (const std::string& der : PemBlocks(last_.chain_pem(), "CERTIFICATE")) leaf.push_back(der);
    std::optional<std::string> p7 = Pkcs7Of(leaf);
    if (!p7.has_value()) return E_FAIL;
    return Encode(*p7, flags, "PKCS7", certificate);
  }

  HRESULT WINAPI GetCAProperty(const BSTR config, LONG prop_id, LONG prop_index, LONG prop_type,
                               LONG, VARIANT* value) override {
    if (value == nullptr) return E_POINTER;
    if (prop_id != certcli::kCrPropTemplates || prop_type != certcli::kPropTypeString ||
        prop_index != 0) {
      return E_NOTIMPL;
    }
    HRESULT hr = Check(config);
    if (FAILED(hr)) return hr;
    adcsemu::v1::ListTemplatesResponse response;
    hr = link_->ListTemplates(&response);
    if (FAILED(hr)) return hr;
    std::string text;  // "cn\nOID\n" per template, as CR_PROP_TEMPLATES reads
    for (const auto& t : response.templates()) text += t.cn() + "\n" + t.oid() + "\n";
    VariantInit(value);
    value->vt = VT_BSTR;
    value->bstrVal = ToBstr(text);
    return S_OK;
  }

  HRESULT WINAPI GetIssuedCertificate(const BSTR, LONG, const BSTR, LONG*) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI GetErrorMessageText(LONG, LONG, BSTR*) override { return E_NOTIMPL; }
  HRESULT WINAPI GetCAPropertyFlags(const BSTR, LONG, LONG*) override { return E_NOTIMPL; }
  HRESULT WINAPI GetCAPropertyDisplayName(const BSTR, LONG, BSTR*) override { return E_NOTIMPL; }
  HRESULT WINAPI GetFullResponseProperty(LONG, LONG, LONG, LONG, VARIANT*) override {
    return E_NOTIMPL;
  }

 private:
  HRESULT Check(const BSTR config) {
    return link_ == nullptr ? NoLink() : link_->CheckConfig(FromBstr(config));
  }
  // A failed call leaves nothing to read back (GetLastStatus gives the failure).
  HRESULT Forget(HRESULT hr) {
    std::lock_guard<std::mutex> lock(mu_);
    last_.Clear();
    last_.set_hresult(static_cast<uint32_t>(hr));
    return hr;
  }
  HRESULT Remember(const adcsemu::v1::CaResponse& response, LONG* disposition) {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = response;
    *disposition = response.disposition();
    return S_OK;
  }

  const std::shared_ptr<EmulatorLink> link_;
  std::mutex mu_;
  adcsemu::v1::CaResponse last_;  // the last Submit / RetrievePending answer
};

// ---------------------------------------------------------------------------------------
// CCertAdmin

class CertAdmin final : public ComObject<ICertAdmin2> {
 public:
  CertAdmin()
      : ComObject({certcli::kIidCertAdmin, certcli::kIidCertAdmin2}),
        link_(EmulatorLink::FromRegistry()) {}

  HRESULT WINAPI RevokeCertificate(const BSTR config, const BSTR serial, LONG reason,
                                   DATE date) override {
    if (date != 0.0) return E_NOTIMPL;  // a revocation date in the future: not emulated
    HRESULT hr = Check(config);
    return FAILED(hr) ? hr : link_->Revoke(FromBstr(serial), reason);
  }
  HRESULT WINAPI ResubmitRequest(const BSTR config, LONG request_id, LONG* disposition) override {
    if (disposition == nullptr) return E_POINTER;
    HRESULT hr = Check(config);
    if (FAILED(hr)) return hr;
    adcsemu::v1::CaResponse response;
    hr = link_->Resubmit(request_id, &response);
    if (SUCCEEDED(hr)) *disposition = response.disposition();
    return hr;
  }
  HRESULT WINAPI DenyRequest(const BSTR config, LONG request_id) override {
    HRESULT hr = Check(config);
    return FAILED(hr) ? hr : link_->Deny(request_id);
  }
  HRESULT WINAPI PublishCRL(const BSTR config, DATE) override {
    HRESULT hr = Check(config);
    return FAILED(hr) ? hr : link_->PublishCrl();
  }
  HRESULT WINAPI PublishCRLs(const BSTR config, DATE date, LONG) override {
    return PublishCRL(config, date);
  }

  HRESULT WINAPI IsValidCertificate(const BSTR, const BSTR, LONG*) override { return E_NOTIMPL; }
  HRESULT WINAPI GetRevocationReason(LONG*) override { return E_NOTIMPL; }
  HRESULT WINAPI SetRequestAttributes(const BSTR, LONG, const BSTR) override { return E_NOTIMPL; }
  HRESULT WINAPI SetCertificateExtension(const BSTR, LONG, const BSTR, LONG, LONG,
                                         const VARIANT*) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI GetCRL(const BSTR, LONG, BSTR*) override { return E_NOTIMPL; }
  HRESULT WINAPI ImportCertificate(const BSTR, const BSTR, LONG, LONG*) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI GetCAProperty(const BSTR, LONG, LONG, LONG, LONG, VARIANT*) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI SetCAProperty(const BSTR, LONG, LONG, LONG, VARIANT*) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI GetCAPropertyFlags(const BSTR, LONG, LONG*) override { return E_NOTIMPL; }
  HRESULT WINAPI GetCAPropertyDisplayName(const BSTR, LONG, BSTR*) override { return E_NOTIMPL; }
  HRESULT WINAPI GetArchivedKey(const BSTR, LONG, LONG, BSTR*) override { return E_NOTIMPL; }
  HRESULT WINAPI GetConfigEntry(const BSTR, const BSTR, const BSTR, VARIANT*) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI SetConfigEntry(const BSTR, const BSTR, const BSTR, VARIANT*) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI ImportKey(const BSTR, LONG, const BSTR, LONG, const BSTR) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI GetMyRoles(const BSTR, LONG*) override { return E_NOTIMPL; }
  HRESULT WINAPI DeleteRow(const BSTR, LONG, DATE, LONG, LONG, LONG*) override { return E_NOTIMPL; }

 private:
  HRESULT Check(const BSTR config) {
    return link_ == nullptr ? NoLink() : link_->CheckConfig(FromBstr(config));
  }
  const std::shared_ptr<EmulatorLink> link_;
};

// ---------------------------------------------------------------------------------------
// CCertView: the Request Attributes table.

struct AttributeColumn {
  const char* name;
  LONG type;
  LONG indexed;
  LONG max_length;
};
// Indexes handed out by GetColumnIndex are CVRC_TABLE_ATTRIBUTES | position.
constexpr AttributeColumn kAttributeColumns[] = {
    {"AttributeRequestId", certcli::kPropTypeLong, 1, 4},
    {"AttributeName", certcli::kPropTypeString, 1, 127},
    {"AttributeValue", certcli::kPropTypeString, 0, 8191},
};
constexpr LONG kColumnCount = 3;
constexpr LONG kRequestIdColumn = CVRC_TABLE_ATTRIBUTES | 0;
constexpr LONG kNameColumn = CVRC_TABLE_ATTRIBUTES | 1;
constexpr LONG kValueColumn = CVRC_TABLE_ATTRIBUTES | 2;

bool IsAttributeColumn(LONG index) {
  return (index & CVRC_TABLE_MASK) == CVRC_TABLE_ATTRIBUTES &&
         (index & CVRC_COLUMN_MASK) < kColumnCount;
}

struct AttributeRow {
  LONG request_id;
  std::string name;
  std::string value;
};

class ColumnEnum final : public ComObject<IEnumCERTVIEWCOLUMN> {
 public:
  ColumnEnum(AttributeRow row, std::vector<LONG> columns)
      : ComObject({certcli::kIidEnumCertViewColumn}),
        row_(std::move(row)),
        columns_(std::move(columns)) {}

  HRESULT WINAPI Next(LONG* index) override {
    if (index == nullptr) return E_POINTER;
    if (pos_ + 1 >= static_cast<LONG>(columns_.size())) {
      pos_ = static_cast<LONG>(columns_.size());
      *index = -1;
      return S_FALSE;
    }
    *index = ++pos_;
    return S_OK;
  }
  HRESULT WINAPI GetName(BSTR* out) override {
    const AttributeColumn* c = Current();
    if (out == nullptr) return E_POINTER;
    if (c == nullptr) return E_UNEXPECTED;
    *out = ToBstr(c->name);
    return S_OK;
  }
  HRESULT WINAPI GetDisplayName(BSTR* out) override { return GetName(out); }
  HRESULT WINAPI GetType(LONG* type) override {
    const AttributeColumn* c = Current();
    if (type == nullptr) return E_POINTER;
    if (c == nullptr) return E_UNEXPECTED;
    *type = c->type;
    return S_OK;
  }
  HRESULT WINAPI IsIndexed(LONG* indexed) override {
    const AttributeColumn* c = Current();
    if (indexed == nullptr) return E_POINTER;
    if (c == nullptr) return E_UNEXPECTED;
    *indexed = c->indexed;
    return S_OK;
  }
  HRESULT WINAPI GetMaxLength(LONG* max_length) override {
    const AttributeColumn* c = Current();
    if (max_length == nullptr) return E_POINTER;
    if (c == nullptr) return E_UNEXPECTED;
    *max_length = c->max_length;
    return S_OK;
  }
  HRESULT WINAPI GetValue(LONG, VARIANT* value) override {
    if (value == nullptr) return E_POINTER;
    if (Current() == nullptr) return E_UNEXPECTED;
    VariantInit(value);
    switch (columns_[pos_]) {
      case kRequestIdColumn:
        value->vt = VT_I4;
        value->lVal = row_.request_id;
        return S_OK;
      case kNameColumn:
        value->vt = VT_BSTR;
        value->bstrVal = ToBstr(row_.name);
        return S_OK;
      default:
        value->vt = VT_BSTR;
        value->bstrVal = ToBstr(row_.value);
        return S_OK;
    }
  }
  HRESULT WINAPI Skip(LONG count) override {
    pos_ += count;
    return S_OK;
  }
  HRESULT WINAPI Reset() override {
    pos_ = -1;
    return S_OK;
  }
  HRESULT WINAPI Clone(IEnumCERTVIEWCOLUMN**) override { return E_NOTIMPL; }

 private:
  const AttributeColumn* Current() const {
    if (pos_ < 0 || pos_ >= static_cast<LONG>(columns_.size())) return nullptr;
    return &kAttributeColumns[columns_[pos_] & CVRC_COLUMN_MASK];
  }
  const AttributeRow row_;
  const std::vector<LONG> columns_;
  LONG pos_ = -1;
};

class RowEnum final : public ComObject<IEnumCERTVIEWROW> {
 public:
  RowEnum(std::vector<AttributeRow> rows, std::vector<LONG> columns)
      : ComObject({certcli::kIidEnumCertViewRow}),
        rows_(std::move(rows)),
        columns_(std::move(columns)) {}

  HRESULT WINAPI Next(LONG* index) override {
    if (index == nullptr) return E_POINTER;
    if (pos_ + 1 >= static_cast<LONG>(rows_.size())) {
      pos_ = static_cast<LONG>(rows_.size());
      *index = -1;
      return S_FALSE;
    }
    *index = ++pos_ + 1;  // row indexes count from 1
    return S_OK;
  }
  HRESULT WINAPI EnumCertViewColumn(IEnumCERTVIEWCOLUMN** out) override {
    if (out == nullptr) return E_POINTER;
    if (pos_ < 0 || pos_ >= static_cast<LONG>(rows_.size())) return E_UNEXPECTED;
    *out = new ColumnEnum(rows_[pos_], columns_);
    return S_OK;
  }
  HRESULT WINAPI EnumCertViewAttribute(LONG, IEnumCERTVIEWATTRIBUTE**) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI EnumCertViewExtension(LONG, IEnumCERTVIEWEXTENSION**) override {
    return E_NOTIMPL;
  }
  HRESULT WINAPI Skip(LONG count) override {
    pos_ += count;
    return S_OK;
  }
  HRESULT WINAPI Reset() override {
    pos_ = -1;
    return S_OK;
  }
  HRESULT WINAPI Clone(IEnumCERTVIEWROW**) override { return E_NOTIMPL; }
  HRESULT WINAPI GetMaxIndex(LONG* index) override {
    if (index == nullptr) return E_POINTER;
    *index = static_cast<LONG>(rows_.size());
    return S_OK;
  }

 private:
  const std::vector<AttributeRow> rows_;
  const std::vector<LONG> columns_;
  LONG pos_ = -1;
};

class CertView final : public ComObject<ICertView2> {
 public:
  CertView()
      : ComObject({certcli::kIidCertView, certcli::kIidCertView2}),
        link_(EmulatorLink::FromRegistry()) {}

  HRESULT WINAPI OpenConnection(const BSTR config) override {
    HRESULT hr = link_ == nullptr ? NoLink() : link_->CheckConfig(FromBstr(config));
    std::lock_guard<std::mutex> lock(mu_);
    connected_ = SUCCEEDED(hr);
    return hr;
  }
  HRESULT WINAPI SetTable(LONG table) override {
    if (table != CVRC_TABLE_ATTRIBUTES) return E_NOTIMPL;
    std::lock_guard<std::mutex> lock(mu_);
    table_ = table;
    return S_OK;
  }
  HRESULT WINAPI GetColumnIndex(LONG result_column, const BSTR name, LONG* index) override {
    if (index == nullptr) return E_POINTER;
    std::lock_guard<std::mutex> lock(mu_);
    if (table_ != CVRC_TABLE_ATTRIBUTES || result_column != CVRC_COLUMN_SCHEMA) return E_NOTIMPL;
    const std::string wanted = FromBstr(name);
    for (LONG i = 0; i < kColumnCount; ++i) {
      if (lstrcmpiA(wanted.c_str(), kAttributeColumns[i].name) == 0) {
        *index = CVRC_TABLE_ATTRIBUTES | i;
        return S_OK;
      }
    }
    return E_INVALIDARG;
  }
  HRESULT WINAPI GetColumnCount(LONG result_column, LONG* count) override {
    if (count == nullptr) return E_POINTER;
    std::lock_guard<std::mutex> lock(mu_);
    if (table_ != CVRC_TABLE_ATTRIBUTES) return E_NOTIMPL;
    *count = result_column == CVRC_COLUMN_RESULT ? static_cast<LONG>(result_columns_.size())
                                                 : kColumnCount;
    return S_OK;
  }
  HRESULT WINAPI SetResultColumnCount(LONG count) override {
    std::lock_guard<std::mutex> lock(mu_);
    result_columns_.clear();
    if (count == CV_COLUMN_ATTRIBUTE_DEFAULT) {
      result_columns_ = {kRequestIdColumn, kNameColumn, kValueColumn};
      result_count_ = kColumnCount;
      return S_OK;
    }
    if (count <= 0 || count > kColumnCount) return E_INVALIDARG;
    result_count_ = count;
    return S_OK;
  }
  HRESULT WINAPI SetResultColumn(LONG index) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!IsAttributeColumn(index)) return E_INVALIDARG;
    if (static_cast<LONG>(result_columns_.size()) >= result_count_) return E_UNEXPECTED;
    result_columns_.push_back(index);
    return S_OK;
  }
  HRESULT WINAPI SetRestriction(LONG index, LONG seek, LONG sort, const VARIANT* value) override {
    if (value == nullptr) return E_POINTER;
    if (seek != CVR_SEEK_EQ || sort != CVR_SORT_NONE || value->vt != VT_BSTR) return E_NOTIMPL;
    std::lock_guard<std::mutex> lock(mu_);
    if (index == kNameColumn) {
      name_ = FromBstr(value->bstrVal);
    } else if (index == kValueColumn) {
      value_ = FromBstr(value->bstrVal);
    } else {
      return E_NOTIMPL;
    }
    return S_OK;
  }
  HRESULT WINAPI OpenView(IEnumCERTVIEWROW** rows) override {
    if (rows == nullptr) return E_POINTER;
    std::string name, value;
    std::vector<LONG> columns;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!connected_ || table_ != CVRC_TABLE_ATTRIBUTES) return E_UNEXPECTED;
      if (!name_.has_value() || !value_.has_value()) {
        Trace("ICertView2::OpenView: the stand-in needs AttributeName and AttributeValue "
              "restrictions");
        return E_NOTIMPL;
      }
      if (static_cast<LONG>(result_columns_.size()) != result_count_) return E_UNEXPECTED;
      name = *name_;
      value = *value_;
      columns = result_columns_;
    }
    adcsemu::v1::FindRequestsResponse found;
    HRESULT hr = link_->FindRequests(name, value, &found);
    if (FAILED(hr)) return hr;
    std::vector<AttributeRow> out;
    for (const auto& r : found.requests()) {
      out.push_back({static_cast<LONG>(r.request_id()), name, value});
    }
    *rows = new RowEnum(std::move(out), std::move(columns));
    return S_OK;
  }
  HRESULT WINAPI EnumCertViewColumn(LONG, IEnumCERTVIEWCOLUMN**) override { return E_NOTIMPL; }

 private:
  const std::shared_ptr<EmulatorLink> link_;
  std::mutex mu_;
  bool connected_ = false;
  LONG table_ = CVRC_TABLE_REQCERT;
  LONG result_count_ = 0;
  std::vector<LONG> result_columns_;
  std::optional<std::string> name_, value_;
};

// ---------------------------------------------------------------------------------------
// Class factories.

template <typename T>
class Factory final : public IClassFactory {
 public:
  HRESULT WINAPI QueryInterface(REFIID riid, void** out) override {
    if (out == nullptr) return E_POINTER;
    if (IsEqualGUID(riid, IID_IUnknown) || IsEqualGUID(riid, IID_IClassFactory)) {
      *out = static_cast<IClassFactory*>(this);
      return S_OK;
    }
    *out = nullptr;
    return E_NOINTERFACE;
  }
  ULONG WINAPI AddRef() override { return 2; }  // static lifetime
  ULONG WINAPI Release() override { return 1; }
  HRESULT WINAPI CreateInstance(IUnknown* outer, REFIID riid, void** out) override {
    if (out == nullptr) return E_POINTER;
    *out = nullptr;
    if (outer != nullptr) return CLASS_E_NOAGGREGATION;
    T* object = new T();
    HRESULT hr = object->QueryInterface(riid, out);
    object->Release();
    return hr;
  }
  HRESULT WINAPI LockServer(BOOL) override { return S_OK; }
};

Factory<CertRequest> g_request_factory;
Factory<CertAdmin> g_admin_factory;
Factory<CertView> g_view_factory;

}  // namespace
}  // namespace certbridge::standin

extern "C" HRESULT WINAPI DllGetClassObject(REFCLSID clsid, REFIID riid, void** out) {
  using namespace certbridge::standin;
  if (out == nullptr) return E_POINTER;
  *out = nullptr;
  IClassFactory* factory = nullptr;
  if (IsEqualGUID(clsid, certcli::kClsidCertRequest)) factory = &g_request_factory;
  if (IsEqualGUID(clsid, certcli::kClsidCertAdmin)) factory = &g_admin_factory;
  if (IsEqualGUID(clsid, certcli::kClsidCertView)) factory = &g_view_factory;
  if (factory == nullptr) return CLASS_E_CLASSNOTAVAILABLE;
  return factory->QueryInterface(riid, out);
}

// Never unloaded: gRPC's threads live in this DLL for the life of the process.
extern "C" HRESULT WINAPI DllCanUnloadNow() { return S_FALSE; }
