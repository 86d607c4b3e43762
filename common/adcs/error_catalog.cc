#include "common/adcs/error_catalog.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace certbridge::adcs {
namespace {

// Sources for every number: docs/adcs-error-catalog.md.
constexpr CatalogEntry kEntries[] = {
    {kRpcServerUnavailable, "RPC_S_SERVER_UNAVAILABLE", "The RPC server is unavailable.",
     "CA_UNREACHABLE",
     "Check the CA host name in the CA config string (HOST\\CA name), that the Certificate "
     "Services service runs on it, and that the agent's host can reach TCP 135 and the "
     "dynamic RPC ports 49152-65535 on it."},
    {kAccessDenied, "E_ACCESSDENIED", "Access is denied.", "CA_ACCESS_DENIED",
     "The agent's Windows identity lacks a right on the CA: for retrieval only the identity "
     "that submitted may retrieve; for officer actions grant \"Issue and Manage "
     "Certificates\" on the CA."},
    {kBadKey, "NTE_BAD_KEY", "Bad key.", "CA_BAD_KEY",
     "The request's public key was refused: use RSA 2048+ or EC P-256/P-384 as the "
     "template's cryptography settings require."},
    {kRevocationOffline, "CRYPT_E_REVOCATION_OFFLINE",
     "The revocation function was unable to check revocation because the revocation server "
     "was offline.",
     "CA_REVOCATION_OFFLINE",
     "Publish a fresh CRL on the CA (certutil -CRL) and make its CDP location reachable from "
     "the CA and the agent."},
    {kAsn1BadTag, "CRYPT_E_ASN1_BADTAG", "ASN1 bad tag value met.", "CA_BAD_REQUEST_ENCODING",
     "The CA could not parse the request: send a DER or base64 PKCS#10 request."},
    {kBadRequestSubject, "CERTSRV_E_BAD_REQUESTSUBJECT",
     "The request subject name is invalid or too long.", "CA_BAD_SUBJECT",
     "Fix the requested subject (RFC 4514 syntax, each name part within its length limit), "
     "or for a build-from-Active-Directory template make sure the enrolling account has the "
     "directory attributes the template needs."},
    {kBadRequestStatus, "CERTSRV_E_BAD_REQUESTSTATUS",
     "The request's current status does not allow this operation.", "CA_BAD_REQUEST_STATUS",
     "Check the request's state in the CA console (Pending/Issued/Denied/Failed): only a "
     "pending request can be approved or denied, and a failed one cannot be resubmitted."},
    {kPropertyEmpty, "CERTSRV_E_PROPERTY_EMPTY", "The requested property value is empty.",
     "CA_REQUEST_NOT_FOUND",
     "The CA has no request with this id or serial: check the id against the CA console's "
     "Pending/Issued/Failed Requests, and that the agent talks to the CA that took it."},
    {kEnrollDenied, "CERTSRV_E_ENROLL_DENIED",
     "The permissions on this certification authority do not allow the current user to "
     "enroll for certificates.",
     "CA_ENROLL_DENIED",
     "On the CA's Security tab, grant \"Request Certificates\" to the agent's computer "
     "account (or its service account)."},
    {kTemplateDenied, "CERTSRV_E_TEMPLATE_DENIED",
     "The permissions on the certificate template do not allow the current user to enroll "
     "for this type of certificate.",
     "CA_TEMPLATE_ENROLL_DENIED",
     "In certtmpl.msc, give the agent's computer account (or its service account) Read and "
     "Enroll on the template's Security tab."},
    {kAdminDeniedRequest, "CERTSRV_E_ADMIN_DENIED_REQUEST",
     "The request was denied by a certificate manager or CA administrator.", "CA_DENIED_BY_OFFICER",
     "A CA officer denied the request: ask them why, fix it, and submit a new request."},
    {kUnsupportedCertType, "CERTSRV_E_UNSUPPORTED_CERT_TYPE",
     "The requested certificate template is not supported by this CA.",
     "CA_TEMPLATE_NOT_SUPPORTED",
     "Request the template by its name (cn), not its display name, and publish it on this CA "
     "(Certification Authority console > Certificate Templates > New > Certificate Template "
     "to Issue)."},
    {kNoCertType, "CERTSRV_E_NO_CERT_TYPE",
     "The request contains no certificate template information.", "CA_TEMPLATE_MISSING",
     "An Enterprise CA needs a template: set the template name (cn) in the request "
     "(attribute CertificateTemplate:<cn>)."},
    {kSubjectAltNameRequired, "CERTSRV_E_SUBJECT_ALT_NAME_REQUIRED",
     "The request is missing a required Subject Alternate name extension.",
     "CA_SAN_REQUIRED",
     "The template requires a subject alternative name: add the SANs to the request."},
    {kSubjectUpnRequired, "CERTSRV_E_SUBJECT_UPN_REQUIRED",
     "The UPN is unavailable and cannot be added to the Subject Alternate name.",
     "CA_UPN_REQUIRED",
     "The enrolling account has no userPrincipalName in Active Directory: set one, or clear "
     "\"User principal name (UPN)\" on the template's Subject Name tab."},
    {kSubjectDnsRequired, "CERTSRV_E_SUBJECT_DNS_REQUIRED",
     "The DNS name is unavailable and cannot be added to the Subject Alternate name.",
     "CA_DNS_REQUIRED",
     "The enrolling computer account has no dNSHostName in Active Directory: set it, or "
     "clear \"DNS name\" on the template's Subject Name tab."},
    {kKeyLength, "CERTSRV_E_KEY_LENGTH",
     "The public key does not meet the minimum size required by the specified certificate "
     "template.",
     "CA_KEY_TOO_SHORT",
     "Generate a key at least as large as the template's \"Minimum key size\" (Cryptography "
     "tab), or lower that minimum on the template."},
    {kSecExtDirectorySidRequired, "CERTSRV_E_SEC_EXT_DIRECTORY_SID_REQUIRED",
     "The Active Directory SID is unavailable and cannot be added to the custom security "
     "extension.",
     "CA_SID_UNAVAILABLE",
     "The enrolling account has no objectSid the CA can read: enroll as a domain account, "
     "or for supply-in-request templates put the SID in the request."},
};

constexpr DispositionEntry kDispositions[] = {
    {kDispositionIncomplete, "CR_DISP_INCOMPLETE", "INCOMPLETE", "CA_INCOMPLETE",
     "The CA did not finish the request: retry it."},
    {kDispositionError, "CR_DISP_ERROR", "ERROR", "CA_ERROR",
     "The CA failed the request: read its HRESULT and disposition message."},
    {kDispositionDenied, "CR_DISP_DENIED", "DENIED", "CA_DENIED",
     "The CA denied the request: check the template name (cn, not display name), Enroll "
     "permissions on CA and template, and the key size."},
    {kDispositionIssued, "CR_DISP_ISSUED", "ISSUED", "CA_ISSUED", ""},
    {kDispositionIssuedOutOfBand, "CR_DISP_ISSUED_OUT_OF_BAND", "ISSUED_OUT_OF_BAND",
     "CA_ISSUED_OUT_OF_BAND", "The certificate was issued out of band: fetch it from the CA."},
    {kDispositionUnderSubmission, "CR_DISP_UNDER_SUBMISSION", "UNDER_SUBMISSION",
     "CA_PENDING_APPROVAL",
     "A CA officer must approve the request in the CA console (Pending Requests > Issue, or "
     "certutil -resubmit <request id>)."},
    {kDispositionRevoked, "CR_DISP_REVOKED", "REVOKED", "CA_REVOKED",
     "The certificate was revoked on the CA: request a new one."},
};

}  // namespace

absl::Span<const CatalogEntry> AllEntries() { return kEntries; }
absl::Span<const DispositionEntry> AllDispositions() { return kDispositions; }

const CatalogEntry* FindByHresult(uint32_t hresult) {
  for (const CatalogEntry& e : kEntries) {
    if (e.hresult == hresult) return &e;
  }
  return nullptr;
}

const CatalogEntry* FindByCode(absl::string_view code) {
  for (const CatalogEntry& e : kEntries) {
    if (e.code == code) return &e;
  }
  return nullptr;
}

const DispositionEntry* FindDisposition(int disposition) {
  for (const DispositionEntry& d : kDispositions) {
    if (d.disposition == disposition) return &d;
  }
  return nullptr;
}

std::string FormatHresult(uint32_t hresult) { return absl::StrFormat("0x%08X", hresult); }

std::optional<uint32_t> ParseHresult(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return std::nullopt;
  if (text[0] == '-') {
    int64_t v = 0;
    if (!absl::SimpleAtoi(text, &v) || v < INT32_MIN) return std::nullopt;
    return static_cast<uint32_t>(static_cast<int32_t>(v));
  }
  if (absl::StartsWithIgnoreCase(text, "0x")) text.remove_prefix(2);
  if (text.empty() || text.size() > 8) return std::nullopt;
  uint32_t v = 0;
  if (!absl::SimpleHexAtoi(text, &v)) return std::nullopt;
  return v;
}

std::string CodeFor(int disposition, uint32_t hresult) {
  if (hresult != kHresultOk) {
    if (const CatalogEntry* e = FindByHresult(hresult)) return std::string(e->code);
  }
  if (const DispositionEntry* d = FindDisposition(disposition)) return std::string(d->code);
  return "CA_UNKNOWN_ERROR";
}

std::string Describe(uint32_t hresult) {
  const CatalogEntry* e = FindByHresult(hresult);
  if (e == nullptr) {
    return absl::StrCat("CA_UNKNOWN_ERROR (", FormatHresult(hresult),
                        "): not in the certbridge catalog; look it up with "
                        "`certutil -error ",
                        FormatHresult(hresult), "` on the CA.");
  }
  return absl::StrCat(e->code, " (", FormatHresult(hresult), " ", e->symbol,
                      "): ", e->windows_message, " Remedy: ", e->remedy);
}

int EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const bool same = absl::ascii_tolower(a[i - 1]) == absl::ascii_tolower(b[j - 1]);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string> SuggestTemplate(absl::string_view requested,
                                           const std::vector<TemplateName>& published) {
  for (const TemplateName& t : published) {
    if (absl::EqualsIgnoreCase(t.cn, requested)) return std::nullopt;
  }
  for (const TemplateName& t : published) {
    if (!t.display_name.empty() && absl::EqualsIgnoreCase(t.display_name, requested)) {
      return t.cn;
    }
  }
  const int limit = std::max<int>(2, static_cast<int>(requested.size()) / 3);
  int best = limit + 1;
  const TemplateName* best_template = nullptr;
  for (const TemplateName& t : published) {
    int d = EditDistance(requested, t.cn);
    if (!t.display_name.empty()) d = std::min(d, EditDistance(requested, t.display_name));
    if (d < best) {
      best = d;
      best_template = &t;
    }
  }
  if (best_template == nullptr) return std::nullopt;
  return best_template->cn;
}

}  // namespace certbridge::adcs
