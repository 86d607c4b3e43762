// The AD CS COM identifiers and flag numbers (Windows SDK certcli.h, certadm.h, certview.h;
// the GUIDs are listed in docs/adcs-error-catalog.md) in one place, for the agent's
// ComCertClient and for the certcli stand-in COM server that answers it under Wine.
// Debian's mingw-w64 declares the interfaces but defines no GUIDs, and which flag macros a
// given SDK defines varies, so the numbers are ours. Windows only (needs <windows.h>'s GUID).
#ifndef CERTBRIDGE_COMMON_ADCS_CERTCLI_IDS_WIN_H_
#define CERTBRIDGE_COMMON_ADCS_CERTCLI_IDS_WIN_H_
#ifdef _WIN32

#include <windows.h>

namespace certbridge::adcs::certcli {

// CCertRequest / ICertRequest / ICertRequest2 (certcli.h).
constexpr GUID kClsidCertRequest = {0x98aff3f0, 0x5524, 0x11d0,
                                    {0x88, 0x12, 0x00, 0xa0, 0xc9, 0x03, 0xb8, 0x3c}};
constexpr GUID kIidCertRequest = {0x014e4840, 0x5523, 0x11d0,
                                  {0x88, 0x12, 0x00, 0xa0, 0xc9, 0x03, 0xb8, 0x3c}};
constexpr GUID kIidCertRequest2 = {0xa4772988, 0x4a85, 0x4fa9,
                                   {0x82, 0x4e, 0xb5, 0xcf, 0x5c, 0x16, 0x40, 0x5a}};
// CCertAdmin / ICertAdmin / ICertAdmin2 (certadm.h).
constexpr GUID kClsidCertAdmin = {0x37eabaf0, 0x7fb6, 0x11d0,
                                  {0x88, 0x17, 0x00, 0xa0, 0xc9, 0x03, 0xb8, 0x3c}};
constexpr GUID kIidCertAdmin = {0x34df6950, 0x7fb6, 0x11d0,
                                {0x88, 0x17, 0x00, 0xa0, 0xc9, 0x03, 0xb8, 0x3c}};
constexpr GUID kIidCertAdmin2 = {0xf7c3ac41, 0xb8ce, 0x4fb4,
                                 {0xaa, 0x58, 0x3d, 0x1d, 0xc0, 0xe3, 0x6b, 0x39}};
// CCertView / ICertView / ICertView2 and its enumerators (certview.h).
constexpr GUID kClsidCertView = {0xa12d0f7a, 0x1e84, 0x11d1,
                                 {0x9b, 0xd6, 0x00, 0xc0, 0x4f, 0xb6, 0x83, 0xfa}};
constexpr GUID kIidCertView = {0xc3fac344, 0x1e84, 0x11d1,
                               {0x9b, 0xd6, 0x00, 0xc0, 0x4f, 0xb6, 0x83, 0xfa}};
constexpr GUID kIidCertView2 = {0xd594b282, 0x8851, 0x4b61,
                                {0x9c, 0x66, 0x3e, 0xda, 0xdf, 0x84, 0x88, 0x63}};
constexpr GUID kIidEnumCertViewRow = {0xd1157f4c, 0x5af2, 0x11d1,
                                      {0x9b, 0xdc, 0x00, 0xc0, 0x4f, 0xb6, 0x83, 0xfa}};
constexpr GUID kIidEnumCertViewColumn = {0x9c735be2, 0x57a5, 0x11d1,
                                         {0x9b, 0xdb, 0x00, 0xc0, 0x4f, 0xb6, 0x83, 0xfa}};

// ICertRequest::Submit flags (CR_IN_*) and GetCertificate flags (CR_OUT_*).
constexpr LONG kCrInBase64 = 0x1;
constexpr LONG kCrInEncodeMask = 0xff;
constexpr LONG kCrInFormatMask = 0xff00;
constexpr LONG kCrInPkcs10 = 0x100;
constexpr LONG kCrOutBase64Header = 0x0;
constexpr LONG kCrOutBase64 = 0x1;
constexpr LONG kCrOutBinary = 0x2;
constexpr LONG kCrOutChain = 0x100;
// Dispositions (CR_DISP_*), as GetLastStatus-era Submit returns them.
constexpr LONG kCrDispIssued = 3;
constexpr LONG kCrDispRevoked = 6;
// GetCAProperty: CR_PROP_TEMPLATES and the PROPTYPE_* value types.
constexpr LONG kCrPropTemplates = 29;
constexpr LONG kPropTypeLong = 1;
constexpr LONG kPropTypeString = 4;
// CERTSRV_E_PROPERTY_EMPTY.
constexpr HRESULT kPropertyEmpty = static_cast<HRESULT>(0x80094004);
// ICertView2 (certview.h): the Request Attributes table, column schema, seek and output.
constexpr LONG kCvrcTableAttributes = 0x4000;
constexpr LONG kCvrcColumnSchema = 0;
constexpr LONG kCvrSeekEq = 0x1;
constexpr LONG kCvrSortNone = 0;
constexpr LONG kCvOutBinary = 0x2;

}  // namespace certbridge::adcs::certcli

#endif  // _WIN32
#endif  // CERTBRIDGE_COMMON_ADCS_CERTCLI_IDS_WIN_H_
