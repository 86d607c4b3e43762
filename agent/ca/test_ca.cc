#include "agent/ca/test_ca.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/adcs/error_catalog.h"
#include "common/adcs/request_attributes.h"

namespace certbridge::agent {
namespace {

constexpr absl::string_view kOk = "[ok]   ";
constexpr absl::string_view kFail = "[FAIL] ";
constexpr absl::string_view kWarn = "[warn] ";
constexpr absl::string_view kIndent = "       ";

void Details(std::ostream& out, const std::vector<std::string>& lines) {
  for (const std::string& l : lines) out << kIndent << l << "\n";
}

std::string DescribeStatus(const absl::Status& s) {
  // Transport failures name the HRESULT in their message; the catalog adds the remedy.
  std::string out(s.message());
  if (s.code() == absl::StatusCode::kUnavailable ||
      s.code() == absl::StatusCode::kDeadlineExceeded) {
    absl::StrAppend(&out, "\n", kIndent, adcs::Describe(adcs::kRpcServerUnavailable));
  }
  return out;
}

}  // namespace

pki::KeyType TestKeyTypeFor(uint32_t minimal_key_size) {
  if (minimal_key_size == 0) return pki::KeyType::kRsa2048;
  if (minimal_key_size <= 256) return pki::KeyType::kEcP256;
  if (minimal_key_size <= 384) return pki::KeyType::kEcP384;
  if (minimal_key_size <= 2048) return pki::KeyType::kRsa2048;
  if (minimal_key_size <= 3072) return pki::KeyType::kRsa3072;
  return pki::KeyType::kRsa4096;
}

std::vector<std::string> ExplainCaResult(const CaResult& result, absl::string_view requested_template,
                                         const std::vector<CaTemplate>& published) {
  std::vector<std::string> lines;
  if (result.hresult != 0) {
    lines.push_back(adcs::Describe(result.hresult));
  } else if (const adcs::DispositionEntry* d = adcs::FindDisposition(result.disposition)) {
    lines.push_back(absl::StrCat(d->code, " (disposition ", result.disposition, " ", d->symbol,
                                 ")", d->remedy.empty() ? "" : ": ", d->remedy));
  }
  if (!result.disposition_message.empty()) {
    lines.push_back(absl::StrCat("CA said: ", result.disposition_message));
  }
  if (result.hresult == adcs::kUnsupportedCertType && !requested_template.empty()) {
    std::vector<adcs::TemplateName> names;
    for (const CaTemplate& t : published) names.push_back({t.cn, t.display_name});
    if (std::optional<std::string> hint = adcs::SuggestTemplate(requested_template, names)) {
      lines.push_back(absl::StrCat("Did you mean \"", *hint, "\"? Requests name the template's cn (",
                                   *hint, "), not its display name."));
    } else {
      std::vector<std::string> cns;
      for (const CaTemplate& t : published) cns.push_back(t.cn);
      lines.push_back(absl::StrCat("Templates published on this CA: ",
                                   cns.empty() ? "(none)" : absl::StrJoin(cns, ", ")));
    }
  }
  return lines;
}

int RunTestCa(CaBackend& backend, const TestCaOptions& options, std::ostream& out) {
  bool failed = false;
  const std::string config = options.config.empty() ? backend.config() : options.config;
  out << "test-ca: " << config << "\n";

  // 1. Reachability.
  absl::StatusOr<PingResult> ping = backend.Ping({.timeout = options.timeout});
  if (!ping.ok()) {
    out << kFail << "reach the CA: " << DescribeStatus(ping.status()) << "\n";
    out << "test-ca: stopped: the CA does not answer\n";
    return 1;
  }
  out << kOk << "reach the CA: " << ping->config << " answered in "
      << absl::FormatDuration(ping->round_trip) << "\n";
  if (!options.config.empty() && !ping->config.empty() && ping->config != options.config) {
    out << kWarn << "the CA calls itself \"" << ping->config << "\", configured as \""
        << options.config << "\"\n";
  }

  // 2. CA certificate.
  absl::StatusOr<CaChain> chain = backend.GetCaChain({.timeout = options.timeout});
  std::string ca_pem;
  if (!chain.ok()) {
    failed = true;
    out << kFail << "CA certificate: " << DescribeStatus(chain.status()) << "\n";
  } else if (chain->certificates_pem.empty()) {
    failed = true;
    out << kFail << "CA certificate: the CA returned none\n";
  } else {
    ca_pem = chain->certificates_pem.front();
    absl::StatusOr<pki::CertificateInfo> info = pki::ParseCertificate(ca_pem);
    if (!info.ok()) {
      failed = true;
      out << kFail << "CA certificate: " << info.status().message() << "\n";
    } else {
      out << kOk << "CA certificate: " << info->subject << ", valid until "
          << absl::FormatTime("%Y-%m-%d", info->not_after, absl::UTCTimeZone()) << "\n";
      if (info->not_after < absl::Now() + absl::Hours(24 * 30)) {
        out << kWarn << "the CA certificate expires within 30 days\n";
      }
    }
  }

  // 3. Published templates.
  std::vector<CaTemplate> templates;
  absl::StatusOr<std::vector<CaTemplate>> listed = backend.ListTemplates({.timeout = options.timeout});
  if (!listed.ok()) {
    failed = true;
    out << kFail << "published templates: " << DescribeStatus(listed.status()) << "\n";
  } else {
    templates = *std::move(listed);
    out << kOk << "published templates (" << templates.size() << ")\n";
    for (const CaTemplate& t : templates) {
      out << kIndent << t.cn;
      if (!t.display_name.empty()) out << " (\"" << t.display_name << "\")";
      if (!t.oid.empty()) out << " " << t.oid;
      if (t.minimal_key_size > 0) out << ", min key " << t.minimal_key_size;
      if ((t.enrollment_flags & adcs::kEnrollmentFlagPendAllRequests) != 0) {
        out << ", pends for approval";
      }
      out << "\n";
    }
  }

  // 4. Test enrollment.
  if (options.template_name.empty()) {
    out << "test-ca: no --template given: test enrollment skipped\n";
    return failed ? 1 : 0;
  }
  const CaTemplate* tmpl = nullptr;
  for (const CaTemplate& t : templates) {
    if (absl::EqualsIgnoreCase(t.cn, options.template_name)) tmpl = &t;
  }
  const pki::KeyType key_type = TestKeyTypeFor(tmpl != nullptr ? tmpl->minimal_key_size : 0);
  const std::string what = absl::StrCat("test enrollment with template \"", options.template_name,
                                        "\" (", pki::KeyTypeName(key_type), " key)");
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::Generate(key_type);
  absl::StatusOr<std::string> csr =
      key.ok() ? pki::CreateCsrPem(*key, {.subject = "CN=certbridge test-ca", .sans = {}})
               : absl::StatusOr<std::string>(key.status());
  absl::StatusOr<std::string> attributes = adcs::FormatRequestAttributes(options.template_name, {});
  if (!csr.ok() || !attributes.ok()) {
    out << kFail << what << ": " << (csr.ok() ? attributes.status() : csr.status()).message()
        << "\n";
    return 1;
  }
  absl::StatusOr<CaResult> result =
      backend.Submit({.csr_pem = *csr, .attributes = *attributes, .timeout = options.timeout});
  if (!result.ok()) {
    out << kFail << what << ": " << DescribeStatus(result.status()) << "\n";
    return 1;
  }
  switch (result->disposition) {
    case adcs::kDispositionIssued: {
      std::string serial;
      if (absl::StatusOr<pki::CertificateInfo> c = pki::ParseCertificate(result->certificate_pem);
          c.ok()) {
        serial = c->serial_hex;
        if (!ca_pem.empty()) {
          absl::StatusOr<pki::CertificateInfo> v =
              pki::VerifyChain(result->certificate_pem, ca_pem, absl::Now());
          if (!v.ok()) {
            failed = true;
            out << kFail << what << ": issued, but it does not chain to the CA certificate: "
                << v.status().message() << "\n";
            break;
          }
        }
      }
      out << kOk << what << ": issued, request id " << result->ca_request_id << ", serial "
          << serial << "\n";
      out << kIndent << "(the test certificate stays on the CA; an officer may revoke it)\n";
      break;
    }
    case adcs::kDispositionUnderSubmission:
      out << kOk << what << ": taken under submission, request id " << result->ca_request_id
          << "\n";
      Details(out, {"The template (or a standalone CA) holds requests for a CA officer "
                    "(PEND_ALL_REQUESTS); certbridge retrieves them once approved.",
                    "An officer may deny this test request."});
      break;
    default:
      failed = true;
      out << kFail << what << ": disposition " << result->disposition << " ("
          << (adcs::FindDisposition(result->disposition) != nullptr
                  ? adcs::FindDisposition(result->disposition)->name
                  : "UNKNOWN")
          << "), request id " << result->ca_request_id << "\n";
      Details(out, ExplainCaResult(*result, options.template_name, templates));
      break;
  }
  out << "test-ca: " << (failed ? "problems found" : "all checks passed") << "\n";
  return failed ? 1 : 0;
}

}  // namespace certbridge::agent
