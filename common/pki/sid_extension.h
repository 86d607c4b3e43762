// The Active Directory SID security extension of strong certificate mapping (KB5014754):
// OID 1.3.6.1.4.1.311.25.2, non-critical, value = GeneralNames with one otherName of type
// 1.3.6.1.4.1.311.25.2.1 whose value is [0] EXPLICIT OCTET STRING holding the ASCII SID:
//
//   30 3d a0 3b 06 0a 2b 06 01 04 01 82 37 19 02 01 a0 2d 04 2b 53 2d 31 2d 35 ...
//
//   ASSIGN_OR_RETURN(std::string der, EncodeSidExtension("S-1-5-21-1-2-3-1104"));
//   params.extra_extensions.push_back({std::string(kSidExtensionOid), false, der});
//
// Pure functions, thread-safe.
#ifndef CERTBRIDGE_COMMON_PKI_SID_EXTENSION_H_
#define CERTBRIDGE_COMMON_PKI_SID_EXTENSION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certbridge::pki {

inline constexpr absl::string_view kSidExtensionOid = "1.3.6.1.4.1.311.25.2";
inline constexpr absl::string_view kSidOtherNameOid = "1.3.6.1.4.1.311.25.2.1";
// The SAN URL form of the SID accepted for strong mapping; append the SID.
inline constexpr absl::string_view kSidSanUrlPrefix = "tag:microsoft.com,2022-09-14:sid:";

// The extnValue DER of the SID extension. INVALID_ARGUMENT if `sid` is not a SID
// (adcs::IsValidSid).
absl::StatusOr<std::string> EncodeSidExtension(absl::string_view sid);

// The SID inside an extnValue made by EncodeSidExtension (or by AD CS). INVALID_ARGUMENT
// when the DER is not that structure.
absl::StatusOr<std::string> DecodeSidExtension(absl::string_view der);

}  // namespace certbridge::pki

#endif  // CERTBRIDGE_COMMON_PKI_SID_EXTENSION_H_
