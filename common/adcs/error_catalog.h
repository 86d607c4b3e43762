// The AD CS error catalog: one table that turns what a CA answers (an HRESULT, a
// disposition) into words a person can act on. Used by the agent (test-ca, job results),
// the broker (API errors) and docs/adcs-error-catalog.md (which cites the sources).
//
//   const CatalogEntry* e = FindByHresult(0x80094800);
//   // e->symbol  == "CERTSRV_E_UNSUPPORTED_CERT_TYPE"
//   // e->code    == "CA_TEMPLATE_NOT_SUPPORTED"
//   // e->remedy  == "Request the template by its name (cn), not its display name; ..."
//   std::optional<std::string> hint =
//       SuggestTemplate("Web Server", {{"WebServer", "Web Server"}});  // "WebServer"
//
// Everything here is immutable data and pure functions: thread-safe, no allocation at
// start-up.
#ifndef CERTBRIDGE_COMMON_ADCS_ERROR_CATALOG_H_
#define CERTBRIDGE_COMMON_ADCS_ERROR_CATALOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace certbridge::adcs {

// CR_DISP_* (certcli.h): what ICertRequest::Submit / RetrievePending answer.
inline constexpr int kDispositionIncomplete = 0;
inline constexpr int kDispositionError = 1;
inline constexpr int kDispositionDenied = 2;
inline constexpr int kDispositionIssued = 3;
inline constexpr int kDispositionIssuedOutOfBand = 4;
inline constexpr int kDispositionUnderSubmission = 5;
inline constexpr int kDispositionRevoked = 6;

// HRESULTs (winerror.h). Kept as uint32_t: they are printed as 0x8009xxxx.
inline constexpr uint32_t kHresultOk = 0;
inline constexpr uint32_t kRpcServerUnavailable = 0x800706BA;
inline constexpr uint32_t kAccessDenied = 0x80070005;
inline constexpr uint32_t kBadKey = 0x80090003;
inline constexpr uint32_t kRevocationOffline = 0x80092013;
inline constexpr uint32_t kAsn1BadTag = 0x8009310B;
inline constexpr uint32_t kBadRequestSubject = 0x80094001;
inline constexpr uint32_t kBadRequestStatus = 0x80094003;
inline constexpr uint32_t kPropertyEmpty = 0x80094004;
inline constexpr uint32_t kEnrollDenied = 0x80094011;
inline constexpr uint32_t kTemplateDenied = 0x80094012;
inline constexpr uint32_t kAdminDeniedRequest = 0x80094014;
inline constexpr uint32_t kUnsupportedCertType = 0x80094800;
inline constexpr uint32_t kNoCertType = 0x80094801;
inline constexpr uint32_t kSubjectAltNameRequired = 0x80094803;
inline constexpr uint32_t kSubjectUpnRequired = 0x8009480D;
inline constexpr uint32_t kSubjectDnsRequired = 0x8009480F;
inline constexpr uint32_t kKeyLength = 0x80094811;
inline constexpr uint32_t kSecExtDirectorySidRequired = 0x80094821;

// Certificate template flags (MS-CRTD).
inline constexpr uint32_t kNameFlagEnrolleeSuppliesSubject = 0x1;
inline constexpr uint32_t kNameFlagEnrolleeSuppliesSubjectAltName = 0x10000;
inline constexpr uint32_t kEnrollmentFlagPendAllRequests = 0x2;
inline constexpr uint32_t kEnrollmentFlagNoSecurityExtension = 0x80000;

// One HRESULT.
struct CatalogEntry {
  uint32_t hresult;
  absl::string_view symbol;           // "CERTSRV_E_UNSUPPORTED_CERT_TYPE"
  absl::string_view windows_message;  // the text Windows prints for it
  absl::string_view code;             // stable certbridge code, "CA_TEMPLATE_NOT_SUPPORTED"
  absl::string_view remedy;           // one sentence a Windows admin can act on
};

// One disposition.
struct DispositionEntry {
  int disposition;
  absl::string_view symbol;  // "CR_DISP_UNDER_SUBMISSION"
  absl::string_view name;    // "UNDER_SUBMISSION"
  absl::string_view code;    // "CA_PENDING_APPROVAL"
  absl::string_view remedy;  // empty when nothing needs doing (ISSUED)
};

// The whole table, in HRESULT order.
absl::Span<const CatalogEntry> AllEntries();
absl::Span<const DispositionEntry> AllDispositions();

// nullptr when the number is not in the catalog.
const CatalogEntry* FindByHresult(uint32_t hresult);
const CatalogEntry* FindByCode(absl::string_view code);
const DispositionEntry* FindDisposition(int disposition);

// "0x80094800".
std::string FormatHresult(uint32_t hresult);
// Accepts "0x80094800", "80094800" and the signed decimal certutil prints
// ("-2146875392"). nullopt on anything else.
std::optional<uint32_t> ParseHresult(absl::string_view text);

// The certbridge code for a CA answer: the HRESULT's code when it is known, else the
// disposition's, else "CA_UNKNOWN_ERROR".
std::string CodeFor(int disposition, uint32_t hresult);

// One line for a person, e.g.
// "CA_TEMPLATE_NOT_SUPPORTED (0x80094800 CERTSRV_E_UNSUPPORTED_CERT_TYPE): The requested
//  certificate template is not supported by this CA. Remedy: ..."
// Unknown HRESULTs are printed with their number and "not in the certbridge catalog".
std::string Describe(uint32_t hresult);

// A template as the CA publishes it.
struct TemplateName {
  std::string cn;            // "WebServer": what requests must name
  std::string display_name;  // "Web Server": what the MMC shows; may be empty
};

// "Did you mean X": the cn to suggest for a template name that the CA refused.
// - If `requested` equals (ignoring case) a display name, that template's cn.
// - Else the cn or display name nearest by edit distance (case-insensitive), if it is
//   close enough to be a plausible typo (distance <= max(2, length/3)); its cn.
// - nullopt when `requested` already is a published cn or nothing is close.
std::optional<std::string> SuggestTemplate(absl::string_view requested,
                                           const std::vector<TemplateName>& published);

// Levenshtein distance, case-insensitive (ASCII).
int EditDistance(absl::string_view a, absl::string_view b);

}  // namespace certbridge::adcs

#endif  // CERTBRIDGE_COMMON_ADCS_ERROR_CATALOG_H_
