#include "tools/certbridgectl/command_line.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/adcs/sid.h"
#include "common/pki/names.h"
#include "common/pki/pki.h"

namespace certbridge::ctl {
namespace {

constexpr absl::string_view kProgram = "certbridgectl";

// Flags that every command takes. "help" is handled separately (it takes no value).
constexpr absl::string_view kBrokerFlag = "broker";
constexpr absl::string_view kApiKeyFileFlag = "api-key-file";
constexpr absl::string_view kCaCertFlag = "ca-cert";
constexpr absl::string_view kOutputFlag = "output";
constexpr absl::string_view kTimeoutFlag = "timeout";

constexpr absl::string_view kGlobalFlagsHelp =
    "Global flags (anywhere on the line):\n"
    "  --broker HOST:PORT     The broker's API address. Env: CERTBRIDGE_BROKER. Required.\n"
    "  --api-key-file PATH    File holding the API key (sent as `authorization: Bearer`).\n"
    "                         Or put the key itself in env CERTBRIDGE_API_KEY.\n"
    "  --ca-cert PATH         PEM root certificate(s) that verify the broker's TLS\n"
    "                         certificate. Env: CERTBRIDGE_CA_CERT. Default: system roots.\n"
    "  --output table|json    Output format. Default: table. json prints the response\n"
    "                         message as protobuf JSON with proto field names.\n"
    "  --timeout SECONDS      Deadline of each call. Default: 30.\n"
    "  -h, --help             Show help for the command line so far.\n";

constexpr absl::string_view kExitStatusHelp =
    "Exit status: 0 success, 1 the call or a local file failed, 2 usage error.\n";

// Every value given for each flag, in order: repeatable flags (--san, --label) use them
// all; the others have exactly one (global flags: the last one counts).
using Flags = std::map<std::string, std::vector<std::string>, std::less<>>;
using Args = std::vector<std::string>;

struct FlagSpec {
  absl::string_view name;
  absl::string_view value_name;
  absl::string_view help;
  bool required = false;
  bool repeatable = false;
};

struct CommandSpec {
  absl::string_view group;
  absl::string_view verb;
  // Positional arguments; "[NAME]" is optional (only at the end), the others required.
  std::vector<absl::string_view> args;
  absl::string_view summary;
  absl::string_view details;  // More text for the command's --help; may be empty.
  std::vector<FlagSpec> flags;
  absl::StatusOr<BrokerRequest> (*build)(const Args& args, const Flags& flags);
  // The files the command reads or writes; nullptr: none.
  FileArguments (*files)(const Args& args, const Flags& flags) = nullptr;
};

struct GroupSpec {
  absl::string_view name;
  absl::string_view summary;
};

std::string FlagValue(const Flags& flags, absl::string_view name) {
  auto it = flags.find(name);
  return it == flags.end() || it->second.empty() ? std::string() : it->second.back();
}

bool HasFlag(const Flags& flags, absl::string_view name) {
  return flags.find(name) != flags.end();
}

std::vector<std::string> FlagValues(const Flags& flags, absl::string_view name) {
  auto it = flags.find(name);
  return it == flags.end() ? std::vector<std::string>() : it->second;
}

bool IsOptionalArg(absl::string_view arg) { return absl::StartsWith(arg, "["); }

// --limit for lists: 1 to `max`.
absl::StatusOr<int> ParseLimit(const Flags& flags, int max) {
  const std::string text = FlagValue(flags, "limit");
  int limit = 0;
  if (!absl::SimpleAtoi(text, &limit) || limit < 1 || limit > max) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--limit must be a whole number from 1 to %d, not \"%s\"", max, text));
  }
  return limit;
}

absl::StatusOr<v1::KeySpec> ParseKeySpec(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "rsa-2048") return v1::KEY_SPEC_RSA_2048;
  if (lower == "rsa-3072") return v1::KEY_SPEC_RSA_3072;
  if (lower == "rsa-4096") return v1::KEY_SPEC_RSA_4096;
  if (lower == "ec-p256") return v1::KEY_SPEC_EC_P256;
  if (lower == "ec-p384") return v1::KEY_SPEC_EC_P384;
  return absl::InvalidArgumentError(absl::StrFormat(
      "--key-spec must be rsa-2048, rsa-3072, rsa-4096, ec-p256 or ec-p384, not \"%s\"",
      text));
}

// "dns:host.example.com", "upn:a@corp.example.com", "email:..", "uri:..", "ip:10.0.0.1".
// Checked with the rules issuance uses, so a bad SAN is refused before anything is sent.
absl::StatusOr<v1::SubjectAltName> ParseSan(absl::string_view text) {
  const size_t colon = text.find(':');
  const std::string type =
      absl::AsciiStrToLower(text.substr(0, std::min(colon, text.size())));
  struct Known {
    absl::string_view name;
    v1::SubjectAltName::Type proto;
    pki::SubjectAltName::Type pki;
  };
  static constexpr Known kKnown[] = {
      {"dns", v1::SubjectAltName::TYPE_DNS, pki::SubjectAltName::Type::kDns},
      {"upn", v1::SubjectAltName::TYPE_UPN, pki::SubjectAltName::Type::kUpn},
      {"email", v1::SubjectAltName::TYPE_EMAIL, pki::SubjectAltName::Type::kEmail},
      {"uri", v1::SubjectAltName::TYPE_URI, pki::SubjectAltName::Type::kUri},
      {"ip", v1::SubjectAltName::TYPE_IP, pki::SubjectAltName::Type::kIp},
  };
  const Known* known = nullptr;
  for (const Known& k : kKnown) {
    if (k.name == type) known = &k;
  }
  if (colon == absl::string_view::npos || known == nullptr || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--san \"%s\" is not TYPE:VALUE with TYPE dns, upn, email, uri or ip, e.g. "
        "dns:host.example.com",
        text));
  }
  const std::string value(text.substr(colon + 1));
  if (absl::Status status = pki::ValidateSubjectAltNames({{known->pki, value}}); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--san \"%s\": %s", text, status.message()));
  }
  v1::SubjectAltName san;
  san.set_type(known->proto);
  san.set_value(value);
  return san;
}

// --wait: "30s", "1m", "0", or a plain number of seconds; 0 to 60 s (the broker's limit).
absl::StatusOr<absl::Duration> ParseWait(absl::string_view text) {
  absl::Duration wait;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds) && std::isfinite(seconds)) {
    wait = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &wait)) {
    wait = absl::InfiniteDuration();
  }
  if (wait < absl::ZeroDuration() || wait > absl::Seconds(60)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--wait must be a duration from 0 to 60s, e.g. 30s or 0 (return at once), not \"%s\"",
        text));
  }
  return wait;
}

absl::StatusOr<v1::CertificateRequest::State> ParseState(absl::string_view text) {
  v1::CertificateRequest::State state;
  if (!v1::CertificateRequest::State_Parse(absl::StrCat("STATE_", absl::AsciiStrToUpper(text)), &state) ||
      state == v1::CertificateRequest::STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--state must be one of QUEUED, DISPATCHED, PENDING_APPROVAL, ISSUED, DENIED, "
        "FAILED, REVOKED, EXPIRED, CANCELLED, not \"%s\"",
        text));
  }
  return state;
}

// Upper-case hex without separators; accepts "4f:1c:..", "4F 1C" and "4f1c".
absl::StatusOr<std::string> ParseSerial(absl::string_view text) {
  std::string hex;
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--serial must be the certificate's serial number in hex, e.g. 4F1C9A0E, not \"%s\"",
          text));
    }
    hex.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  if (hex.empty() || hex.size() > 40) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--serial must be 1 to 40 hex digits (20 bytes), not \"%s\"", text));
  }
  return hex;
}

FileArguments OutputFileArguments(const Args&, const Flags& flags) {
  FileArguments files;
  files.input = FlagValue(flags, "csr");
  files.certificate_pem = FlagValue(flags, "out-cert");
  files.chain_pem = FlagValue(flags, "out-chain");
  files.pkcs12_der = FlagValue(flags, "out-pkcs12");
  files.enveloped_password = FlagValue(flags, "out-password-cms");
  return files;
}

absl::StatusOr<BrokerRequest> BuildCreateCertificateRequest(const Args&, const Flags& flags) {
  v1::CreateCertificateRequestRequest request;
  if (HasFlag(flags, "request-id")) {
    const std::string id = FlagValue(flags, "request-id");
    if (id.empty() || id.size() > 128) {
      return absl::InvalidArgumentError(
          "--request-id must be 1 to 128 characters (omit it for a random UUID)");
    }
    request.set_request_id(id);
  }
  request.set_ca_id(FlagValue(flags, "ca"));
  request.set_template_name(FlagValue(flags, "template"));
  if (request.ca_id().empty()) return absl::InvalidArgumentError("--ca is empty");
  if (request.template_name().empty()) return absl::InvalidArgumentError("--template is empty");

  const bool csr_mode = HasFlag(flags, "csr");
  const bool keygen_mode = HasFlag(flags, "key-spec");
  if (csr_mode == keygen_mode) {
    return absl::InvalidArgumentError(
        csr_mode ? "\"certificates request\" takes --csr FILE or --key-spec SPEC, not both"
                 : "\"certificates request\" needs --csr FILE (you hold the key) or "
                   "--key-spec SPEC with --subject (the connector makes the key)");
  }
  std::vector<v1::SubjectAltName> sans;
  for (const std::string& text : FlagValues(flags, "san")) {
    auto san = ParseSan(text);
    if (!san.ok()) return san.status();
    sans.push_back(*std::move(san));
  }
  if (csr_mode) {
    if (FlagValue(flags, "csr").empty()) return absl::InvalidArgumentError("--csr is empty");
    for (absl::string_view keygen_only :
         {"subject", "pkcs12-profile", "out-pkcs12", "out-password-cms"}) {
      if (HasFlag(flags, keygen_only)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "--%s is for key-generation mode (--key-spec); with --csr the subject comes from "
            "the CSR and the key stays with you",
            keygen_only));
      }
    }
    // The CSR itself is read by RunCertbridgectl (FileArguments::input).
    for (v1::SubjectAltName& san : sans) *request.add_subject_alt_names() = std::move(san);
  } else {
    auto key_spec = ParseKeySpec(FlagValue(flags, "key-spec"));
    if (!key_spec.ok()) return key_spec.status();
    v1::KeyGeneration* keygen = request.mutable_key_generation();
    keygen->set_key_spec(*key_spec);
    const std::string subject = FlagValue(flags, "subject");
    if (subject.empty() && sans.empty()) {
      return absl::InvalidArgumentError(
          "key-generation mode needs --subject 'CN=..,O=..' or at least one --san");
    }
    if (!subject.empty()) {
      if (absl::Status status = pki::CanonicalSubject(subject).status(); !status.ok()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "--subject \"%s\" is not an RFC 4514 name such as 'CN=device 42,O=Example': %s",
            subject, status.message()));
      }
      keygen->mutable_subject()->set_rfc4514(subject);
    }
    for (v1::SubjectAltName& san : sans) *keygen->add_subject_alt_names() = std::move(san);
    if (HasFlag(flags, "pkcs12-profile")) {
      const std::string profile = absl::AsciiStrToLower(FlagValue(flags, "pkcs12-profile"));
      if (profile == "modern") {
        keygen->set_pkcs12_profile(v1::PKCS12_PROFILE_MODERN);
      } else if (profile == "legacy") {
        keygen->set_pkcs12_profile(v1::PKCS12_PROFILE_LEGACY);
      } else {
        return absl::InvalidArgumentError(absl::StrFormat(
            "--pkcs12-profile must be modern or legacy, not \"%s\"",
            FlagValue(flags, "pkcs12-profile")));
      }
    }
  }
  if (HasFlag(flags, "sid")) {
    const std::string sid = FlagValue(flags, "sid");
    if (!adcs::IsValidSid(sid)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--sid \"%s\" is not a SID such as S-1-5-21-3623811015-3361044348-30300820-1013",
          sid));
    }
    request.set_sid(sid);
  }
  request.set_device_id(FlagValue(flags, "device-id"));
  for (const std::string& label : FlagValues(flags, "label")) {
    const size_t equals = label.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--label \"%s\" is not KEY=VALUE", label));
    }
    const std::string key = label.substr(0, equals);
    if (request.labels().count(key) > 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--label \"%s\" is given more than once", key));
    }
    (*request.mutable_labels())[key] = label.substr(equals + 1);
  }
  absl::Duration wait = absl::Seconds(30);
  if (HasFlag(flags, "wait")) {
    auto parsed = ParseWait(FlagValue(flags, "wait"));
    if (!parsed.ok()) return parsed.status();
    wait = *parsed;
  }
  const int64_t wait_nanos = absl::ToInt64Nanoseconds(wait);
  request.mutable_wait_timeout()->set_seconds(wait_nanos / 1'000'000'000);
  request.mutable_wait_timeout()->set_nanos(static_cast<int32_t>(wait_nanos % 1'000'000'000));
  return request;
}

// --out-* flags of `certificates request` and `certificates get`.
const std::vector<FlagSpec>& OutputFileFlags() {
  static const auto* const kFlags = new std::vector<FlagSpec>{
      {"out-cert", "FILE", "Write the certificate (PEM) to FILE, mode 0644."},
      {"out-chain", "FILE", "Write the chain, issuing CA first (PEM), to FILE, mode 0644."},
      {"out-pkcs12", "FILE", "Key-generation mode: write the PKCS#12 (DER) to FILE, mode 0600."},
      {"out-password-cms", "FILE",
       "Key-generation mode: write the PKCS#12 password enveloped to the delivery "
       "certificate (CMS DER) to FILE, mode 0600."},
  };
  return *kFlags;
}

std::vector<FlagSpec> WithOutputFileFlags(std::vector<FlagSpec> flags) {
  flags.insert(flags.end(), OutputFileFlags().begin(), OutputFileFlags().end());
  return flags;
}

absl::StatusOr<std::vector<std::string>> ParseScopes(absl::string_view text) {
  std::vector<std::string> scopes;
  for (absl::string_view scope : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    scope = absl::StripAsciiWhitespace(scope);
    if (scope != "admin" && scope != "certificates") {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unknown scope \"%s\" in --scopes: use admin, certificates or both", scope));
    }
    scopes.emplace_back(scope);
  }
  if (scopes.empty()) {
    return absl::InvalidArgumentError("--scopes is empty: use admin, certificates or both");
  }
  return scopes;
}

const std::vector<GroupSpec>& Groups() {
  static const auto* const kGroups = new std::vector<GroupSpec>{
      {"tenants", "Tenants of the broker (operator key only)."},
      {"api-keys", "API keys of a tenant; the secret is shown once."},
      {"enrollment-tokens", "Single-use tokens that let a new connector register."},
      {"cas", "Issuing certificate authorities and the connectors that serve them."},
      {"connectors", "Installed agents: approve, inspect, disable, delete."},
      {"audit", "The tenant's audit log, newest first."},
      {"delivery-certificate",
       "The certificate that receives PKCS#12 passwords in key-generation mode."},
      {"certificates", "Certificate requests to the tenant's CAs (certificates scope)."},
  };
  return *kGroups;
}

const std::vector<CommandSpec>& Commands() {
  static const auto* const kCommands = new std::vector<CommandSpec>{
      {"tenants", "create", {"NAME"}, "Create a tenant named NAME.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::CreateTenantRequest request;
         request.set_display_name(args[0]);
         return request;
       }},
      {"tenants", "list", {}, "List tenants.", "", {},
       [](const Args&, const Flags&) -> absl::StatusOr<BrokerRequest> {
         return v1::ListTenantsRequest();
       }},
      {"api-keys", "create", {}, "Create an API key and print its secret once.",
       "With the operator key, --tenant is required. With a tenant admin key it must be\n"
       "empty or the key's own tenant.",
       {{"scopes", "SCOPES", "Comma-separated: admin, certificates.", /*required=*/true},
        {"tenant", "ID", "Tenant to create the key in."},
        {"name", "NAME", "Display name of the key, e.g. \"jamf-prod\"."},
        {"expires-in", "DURATION", "Lifetime, e.g. 90d, 12h. Default: the key does not expire."}},
       [](const Args&, const Flags& flags) -> absl::StatusOr<BrokerRequest> {
         auto scopes = ParseScopes(FlagValue(flags, "scopes"));
         if (!scopes.ok()) return scopes.status();
         v1::CreateApiKeyRequest request;
         if (HasFlag(flags, "expires-in")) {
           auto lifetime = ParseTtl(FlagValue(flags, "expires-in"));
           if (!lifetime.ok()) return lifetime.status();
           const absl::Time expire = absl::Now() + *lifetime;
           request.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(expire));
         }
         request.set_tenant_id(FlagValue(flags, "tenant"));
         request.set_display_name(FlagValue(flags, "name"));
         for (auto& scope : *scopes) request.add_scopes(std::move(scope));
         return request;
       }},
      {"api-keys", "list", {}, "List API keys (never their secrets).", "",
       {{"tenant", "ID", "Tenant whose keys to list (operator key)."}},
       [](const Args&, const Flags& flags) -> absl::StatusOr<BrokerRequest> {
         v1::ListApiKeysRequest request;
         request.set_tenant_id(FlagValue(flags, "tenant"));
         return request;
       }},
      {"api-keys", "revoke", {"KEY_ID"}, "Revoke an API key; it stops working within seconds.",
       "The key stays listed, marked revoked. With the operator key, --tenant is required.",
       {{"tenant", "ID", "Tenant of the key (operator key)."}},
       [](const Args& args, const Flags& flags) -> absl::StatusOr<BrokerRequest> {
         v1::RevokeApiKeyRequest request;
         request.set_tenant_id(FlagValue(flags, "tenant"));
         request.set_key_id(args[0]);
         return request;
       }},
      {"enrollment-tokens", "create", {}, "Create an enrollment token and print it once.",
       "Give the token to the Windows admin who installs the connector. It is single use.",
       {{"ttl", "DURATION", "Lifetime, e.g. 24h, 90m, 7d. Default (broker): 24h, max 7d."},
        {"description", "TEXT", "What the token is for, e.g. \"ADCS01 install\"."}},
       [](const Args&, const Flags& flags) -> absl::StatusOr<BrokerRequest> {
         v1::CreateEnrollmentTokenRequest request;
         if (HasFlag(flags, "ttl")) {
           auto ttl = ParseTtl(FlagValue(flags, "ttl"));
           if (!ttl.ok()) return ttl.status();
           request.set_ttl_seconds(absl::ToInt64Seconds(*ttl));
         }
         request.set_description(FlagValue(flags, "description"));
         return request;
       }},
      {"cas", "add", {"HOST\\CA_NAME"}, "Add an issuing CA by its config string.",
       "HOST is the CA server's FQDN and CA_NAME the CA's common name, as in certutil's\n"
       "-config. Quote it for the shell: 'adcs01.corp.example.com\\Corp Issuing CA'.",
       {{"display-name", "NAME", "Friendly name shown in lists."}},
       [](const Args& args, const Flags& flags) -> absl::StatusOr<BrokerRequest> {
         std::vector<std::string> parts = absl::StrSplit(args[0], '\\');
         if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
           return absl::InvalidArgumentError(absl::StrFormat(
               "\"%s\" is not a CA config string: expected HOST\\CA_NAME with exactly one "
               "backslash, e.g. 'adcs01.corp.example.com\\Corp Issuing CA' (quote it)",
               args[0]));
         }
         v1::CreateCertificateAuthorityRequest request;
         request.set_host(parts[0]);
         request.set_ca_name(parts[1]);
         request.set_display_name(FlagValue(flags, "display-name"));
         return request;
       }},
      {"cas", "list", {}, "List certificate authorities.", "", {},
       [](const Args&, const Flags&) -> absl::StatusOr<BrokerRequest> {
         return v1::ListCertificateAuthoritiesRequest();
       }},
      {"cas", "delete", {"CA_ID"}, "Delete a certificate authority.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::DeleteCertificateAuthorityRequest request;
         request.set_ca_id(args[0]);
         return request;
       }},
      {"cas", "assign", {"CA_ID", "CONNECTOR_ID"}, "Let a connector serve a CA.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::AssignCertificateAuthorityRequest request;
         request.set_ca_id(args[0]);
         request.set_connector_id(args[1]);
         return request;
       }},
      {"cas", "unassign", {"CA_ID", "CONNECTOR_ID"}, "Stop a connector serving a CA.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::UnassignCertificateAuthorityRequest request;
         request.set_ca_id(args[0]);
         request.set_connector_id(args[1]);
         return request;
       }},
      {"connectors", "list", {}, "List connectors with state and connectivity.", "", {},
       [](const Args&, const Flags&) -> absl::StatusOr<BrokerRequest> {
         return v1::ListConnectorsRequest();
       }},
      {"connectors", "get", {"ID"}, "Show one connector in detail.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::GetConnectorRequest request;
         request.set_connector_id(args[0]);
         return request;
       }},
      {"connectors", "approve", {"CODE"}, "Approve the pending connector showing CODE.",
       "CODE is the registration code the agent printed when it registered. Check that\n"
       "host and CA identity are the ones you expect before approving.",
       {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::ApproveConnectorRequest request;
         request.set_registration_code(args[0]);
         return request;
       }},
      {"connectors", "reject", {"CODE"}, "Reject the pending connector showing CODE.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::RejectConnectorRequest request;
         request.set_registration_code(args[0]);
         return request;
       }},
      {"connectors", "disable", {"ID"}, "Cut a connector off; it gets no work.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::DisableConnectorRequest request;
         request.set_connector_id(args[0]);
         return request;
       }},
      {"connectors", "enable", {"ID"}, "Re-enable a disabled connector.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::EnableConnectorRequest request;
         request.set_connector_id(args[0]);
         return request;
       }},
      {"connectors", "delete", {"ID"}, "Delete a connector for good.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::DeleteConnectorRequest request;
         request.set_connector_id(args[0]);
         return request;
       }},
      {"audit", "list", {}, "List audit events, newest first.", "",
       {{"limit", "N", "Events per page, 1-1000. Default (broker): 100."},
        {"page-token", "TOKEN", "Continue from the previous page's next page token."}},
       [](const Args&, const Flags& flags) -> absl::StatusOr<BrokerRequest> {
         v1::ListAuditEventsRequest request;
         if (HasFlag(flags, "limit")) {
           auto limit = ParseLimit(flags, 1000);
           if (!limit.ok()) return limit.status();
           request.set_page_size(*limit);
         }
         request.set_page_token(FlagValue(flags, "page-token"));
         return request;
       }},
      {"delivery-certificate", "set", {"FILE"},
       "Set the tenant's delivery certificate from a PEM file.",
       "In key-generation mode the connector encrypts each PKCS#12 with a random password\n"
       "and envelopes that password (CMS) to this certificate; only the holder of its\n"
       "private key can open it. RSA 2048+ or EC P-256/P-384. FILE must hold the\n"
       "certificate only: a file with a private key is refused before anything is sent.\n"
       "Needs the admin scope.",
       {},
       [](const Args&, const Flags&) -> absl::StatusOr<BrokerRequest> {
         // certificate_pem is read from FILE by RunCertbridgectl (FileArguments::input).
         return v1::SetDeliveryCertificateRequest();
       },
       [](const Args& args, const Flags&) {
         FileArguments files;
         files.input = args[0];
         return files;
       }},
      {"delivery-certificate", "get", {}, "Show the tenant's delivery certificate.",
       "Needs the admin scope.", {},
       [](const Args&, const Flags&) -> absl::StatusOr<BrokerRequest> {
         return v1::GetDeliveryCertificateRequest();
       }},
      {"certificates", "request", {}, "Request a certificate and wait for it.",
       "Two modes. With --csr FILE you hold the key: the PKCS#10 request (PEM or DER) is\n"
       "sent and its subject and SANs are used; --san adds SANs as the CA's SAN: attribute\n"
       "(needs EDITF_ATTRIBUTESUBJECTALTNAME2). With --key-spec the connector makes the key\n"
       "and returns a PKCS#12 whose password is enveloped to the delivery certificate.\n"
       "The call waits up to --wait for the CA; its deadline is --timeout plus --wait.\n"
       "A retry with the same --request-id returns the same request instead of a second\n"
       "certificate. Exit status 1 if the request ends DENIED, FAILED, EXPIRED or\n"
       "CANCELLED, or an --out-* file cannot be written (or the request has nothing for\n"
       "it yet). Needs the certificates scope.",
       WithOutputFileFlags({
           {"ca", "CA_ID", "The CA to ask (see 'cas list').", /*required=*/true},
           {"template", "NAME", "The template's name (cn), e.g. WebServer.", /*required=*/true},
           {"csr", "FILE", "CSR mode: the PKCS#10 request, PEM or DER."},
           {"key-spec", "SPEC", "Key-generation mode: rsa-2048, rsa-3072, rsa-4096, ec-p256, "
                                "ec-p384."},
           {"subject", "DN", "Key-generation mode: RFC 4514 subject, e.g. 'CN=dev42,O=Acme'."},
           {"san", "TYPE:VALUE", "Subject alternative name; TYPE is dns, upn, email, uri or ip. "
                                 "Repeatable.", false, /*repeatable=*/true},
           {"pkcs12-profile", "PROFILE", "modern (AES-256, default) or legacy (3DES/SHA-1, for "
                                         "old Apple and Windows clients)."},
           {"request-id", "ID", "Idempotency key, 1-128 characters. Default: a random UUID, "
                                "printed before the call."},
           {"sid", "SID", "The device's AD object SID for strong mapping (KB5014754)."},
           {"device-id", "ID", "Your device's ID, for list --device-id."},
           {"label", "KEY=VALUE", "A label to keep with the request. Repeatable.", false,
            /*repeatable=*/true},
           {"wait", "DURATION", "How long to wait for the CA, 0 to 60s. Default: 30s; 0 "
                                "returns at once."},
       }),
       BuildCreateCertificateRequest, OutputFileArguments},
      {"certificates", "get", {"[NAME]"}, "Show one certificate request.",
       "Name it by its NAME, or by your --request-id. The --out-* flags write what it\n"
       "carries, e.g. the certificate of a request that was PENDING_APPROVAL.\n"
       "Needs the certificates scope.",
       WithOutputFileFlags({{"request-id", "ID", "Your request ID instead of NAME."}}),
       [](const Args& args, const Flags& flags) -> absl::StatusOr<BrokerRequest> {
         const bool by_id = HasFlag(flags, "request-id");
         if (args.empty() == !by_id) {
           return absl::InvalidArgumentError(
               by_id ? "\"certificates get\" takes NAME or --request-id ID, not both"
                     : "\"certificates get\" needs NAME or --request-id ID");
         }
         v1::GetCertificateRequestRequest request;
         if (by_id) {
           request.set_request_id(FlagValue(flags, "request-id"));
           if (request.request_id().empty()) {
             return absl::InvalidArgumentError("--request-id is empty");
           }
         } else {
           request.set_name(args[0]);
         }
         return request;
       },
       OutputFileArguments},
      {"certificates", "list", {}, "List certificate requests, newest first.",
       "Needs the certificates scope.",
       {{"state", "STATE", "Only this state, e.g. ISSUED or PENDING_APPROVAL."},
        {"ca", "CA_ID", "Only requests to this CA."},
        {"device-id", "ID", "Only requests for this device."},
        {"limit", "N", "Requests per page, 1-500. Default (broker): 50."},
        {"page-token", "TOKEN", "Continue from the previous page's next page token."}},
       [](const Args&, const Flags& flags) -> absl::StatusOr<BrokerRequest> {
         v1::ListCertificateRequestsRequest request;
         if (HasFlag(flags, "state")) {
           auto state = ParseState(FlagValue(flags, "state"));
           if (!state.ok()) return state.status();
           request.set_state(*state);
         }
         request.set_ca_id(FlagValue(flags, "ca"));
         request.set_device_id(FlagValue(flags, "device-id"));
         if (HasFlag(flags, "limit")) {
           auto limit = ParseLimit(flags, 500);
           if (!limit.ok()) return limit.status();
           request.set_page_size(*limit);
         }
         request.set_page_token(FlagValue(flags, "page-token"));
         return request;
       }},
      {"certificates", "watch", {}, "Print every state change of the tenant's requests.",
       "Runs until interrupted (Ctrl-C: exit 0) or the broker ends the stream; then it\n"
       "prints the last cursor: pass it to --cursor to resume without missing an event.\n"
       "--timeout does not apply. With --output json, one JSON object per line.\n"
       "Needs the certificates scope.",
       {{"cursor", "CURSOR", "Resume after this event. Default: changes from now on."}},
       [](const Args&, const Flags& flags) -> absl::StatusOr<BrokerRequest> {
         v1::WatchCertificateRequestsRequest request;
         request.set_cursor(FlagValue(flags, "cursor"));
         return request;
       }},
      {"certificates", "cancel", {"NAME"}, "Cancel a QUEUED certificate request.",
       "Needs the certificates scope.", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<BrokerRequest> {
         v1::CancelCertificateRequestRequest request;
         request.set_name(args[0]);
         return request;
       }},
      {"certificates", "revoke", {"[NAME]"}, "Revoke an issued certificate at its CA.",
       "Name it by the request's NAME, or by --ca and --serial (hex, colons allowed).\n"
       "The connector that submitted it revokes it with the same identity.\n"
       "Needs the certificates scope.",
       {{"reason", "REASON", "0 unspecified (default), 1 key-compromise, 3 affiliation-changed, "
                             "4 superseded, 5 cessation-of-operation, 6 certificate-hold."},
        {"ca", "CA_ID", "With --serial: the CA that issued the certificate."},
        {"serial", "HEX", "With --ca: the certificate's serial number."}},
       [](const Args& args, const Flags& flags) -> absl::StatusOr<BrokerRequest> {
         v1::RevokeCertificateRequest request;
         const bool by_serial = HasFlag(flags, "ca") || HasFlag(flags, "serial");
         if (!args.empty() && by_serial) {
           return absl::InvalidArgumentError(
               "\"certificates revoke\" takes NAME or --ca with --serial, not both");
         }
         if (args.empty()) {
           if (FlagValue(flags, "ca").empty() || !HasFlag(flags, "serial")) {
             return absl::InvalidArgumentError(
                 "\"certificates revoke\" needs NAME, or --ca CA_ID with --serial HEX");
           }
           auto serial = ParseSerial(FlagValue(flags, "serial"));
           if (!serial.ok()) return serial.status();
           request.mutable_certificate_serial()->set_ca_id(FlagValue(flags, "ca"));
           request.mutable_certificate_serial()->set_serial_number(*serial);
         } else {
           request.set_name(args[0]);
         }
         if (HasFlag(flags, "reason")) {
           auto reason = ParseRevocationReason(FlagValue(flags, "reason"));
           if (!reason.ok()) return reason.status();
           request.set_reason(static_cast<v1::RevocationReason>(*reason));
         }
         return request;
       }},
  };
  return *kCommands;
}

bool IsGlobalFlag(absl::string_view name) {
  return name == kBrokerFlag || name == kApiKeyFileFlag || name == kCaCertFlag ||
         name == kOutputFlag || name == kTimeoutFlag;
}

bool IsCommandFlag(absl::string_view name) {
  for (const CommandSpec& spec : Commands()) {
    for (const FlagSpec& flag : spec.flags) {
      if (flag.name == name) return true;
    }
  }
  return false;
}

const GroupSpec* FindGroup(absl::string_view name) {
  for (const GroupSpec& group : Groups()) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

const CommandSpec* FindCommand(absl::string_view group, absl::string_view verb) {
  for (const CommandSpec& spec : Commands()) {
    if (spec.group == group && spec.verb == verb) return &spec;
  }
  return nullptr;
}

// "cas add HOST\CA_NAME [--display-name NAME]"; with `short_flags`, optional flags
// collapse to "[flags]" so that command lists stay narrow.
std::string UsageLine(const CommandSpec& spec, bool short_flags) {
  std::string line = absl::StrCat(spec.group, " ", spec.verb);
  for (absl::string_view arg : spec.args) absl::StrAppend(&line, " ", arg);
  bool has_optional = false;
  for (const FlagSpec& flag : spec.flags) {
    if (flag.required) absl::StrAppend(&line, " --", flag.name, " ", flag.value_name);
  }
  for (const FlagSpec& flag : spec.flags) {
    if (flag.required) continue;
    has_optional = true;
    if (!short_flags) {
      absl::StrAppend(&line, " [--", flag.name, " ", flag.value_name, "]",
                      flag.repeatable ? "..." : "");
    }
  }
  if (short_flags && has_optional) absl::StrAppend(&line, " [flags]");
  return line;
}

std::string CommandList(absl::string_view group) {
  std::vector<std::pair<std::string, absl::string_view>> lines;
  size_t width = 0;
  for (const CommandSpec& spec : Commands()) {
    if (!group.empty() && spec.group != group) continue;
    lines.emplace_back(UsageLine(spec, /*short_flags=*/true), spec.summary);
    width = std::max(width, lines.back().first.size());
  }
  std::string out;
  for (const auto& [usage, summary] : lines) {
    absl::StrAppend(&out, "  ", usage, std::string(width - usage.size() + 3, ' '), summary,
                    "\n");
  }
  return out;
}

std::string TopHelp() {
  return absl::StrCat(
      "certbridgectl manages a certbridge broker: tenants, API keys, enrollment tokens,\n"
      "certificate authorities, connectors, the audit log and the delivery certificate\n"
      "(AdminService), and certificate requests (CertificateService).\n\n"
      "Usage:\n  certbridgectl [global flags] COMMAND [ARGS] [flags]\n\nCommands:\n",
      CommandList(""),
      // The scep commands have their own parser (scep_commands.h) and usage text.
      "  scep profiles|challenges ...                              SCEP profiles and "
      "challenges: certbridgectl scep --help.\n",
      "\n", kGlobalFlagsHelp, "\n", kExitStatusHelp,
      "Run 'certbridgectl COMMAND --help' for more about a command.\n");
}

std::string GroupHelp(const GroupSpec& group) {
  return absl::StrCat("certbridgectl ", group.name, ": ", group.summary,
                      "\n\nUsage:\n  certbridgectl ", group.name,
                      " COMMAND [ARGS] [flags]\n\nCommands:\n", CommandList(group.name),
                      "\nRun 'certbridgectl ", group.name,
                      " COMMAND --help' for a command's flags,\n'certbridgectl --help' for "
                      "the global flags.\n");
}

std::string CommandHelp(const CommandSpec& spec) {
  std::string out = absl::StrCat("Usage:\n  certbridgectl ",
                                 UsageLine(spec, /*short_flags=*/false), "\n\n", spec.summary,
                                 "\n");
  if (!spec.details.empty()) absl::StrAppend(&out, "\n", spec.details, "\n");
  if (!spec.flags.empty()) {
    std::vector<std::string> names;
    size_t width = 0;
    for (const FlagSpec& flag : spec.flags) {
      names.push_back(absl::StrCat("--", flag.name, " ", flag.value_name));
      width = std::max(width, names.back().size());
    }
    absl::StrAppend(&out, "\nFlags:\n");
    for (size_t i = 0; i < spec.flags.size(); ++i) {
      absl::StrAppend(&out, "  ", names[i], std::string(width - names[i].size() + 3, ' '),
                      spec.flags[i].help, spec.flags[i].required ? " Required." : "", "\n");
    }
  }
  absl::StrAppend(&out, "\n", kGlobalFlagsHelp);
  return out;
}

ParseResult UsageError(std::string text, absl::string_view help_path) {
  ParseResult result;
  result.kind = ParseResult::Kind::kUsageError;
  result.text = std::move(text);
  result.help_command = help_path.empty() ? std::string(kProgram)
                                          : absl::StrCat(kProgram, " ", help_path);
  return result;
}

ParseResult Help(std::string text) {
  ParseResult result;
  result.kind = ParseResult::Kind::kHelp;
  result.text = std::move(text);
  return result;
}

// The deepest known command named by `positionals`, e.g. "cas add", "cas" or "".
std::string KnownCommandPath(const Args& positionals) {
  if (positionals.empty() || FindGroup(positionals[0]) == nullptr) return "";
  if (positionals.size() >= 2 && FindCommand(positionals[0], positionals[1]) != nullptr) {
    return absl::StrCat(positionals[0], " ", positionals[1]);
  }
  return positionals[0];
}

std::optional<std::string> Lookup(const Flags& flags, const Environment& env,
                                  absl::string_view flag, absl::string_view env_name) {
  if (auto it = flags.find(flag); it != flags.end() && !it->second.empty()) {
    return it->second.back();
  }
  if (!env_name.empty()) {
    if (auto it = env.find(env_name); it != env.end() && !it->second.empty()) {
      return it->second;
    }
  }
  return std::nullopt;
}

// Fills `global` from flags, then the environment, then defaults.
absl::Status ResolveGlobalOptions(const Flags& flags, const Environment& env,
                                  GlobalOptions& global) {
  global.broker = Lookup(flags, env, kBrokerFlag, kBrokerEnv).value_or("");
  if (global.broker.empty()) {
    return absl::InvalidArgumentError(
        "no broker address: pass --broker HOST:PORT or set CERTBRIDGE_BROKER");
  }
  global.ca_cert_file = Lookup(flags, env, kCaCertFlag, kCaCertEnv).value_or("");
  if (auto file = Lookup(flags, env, kApiKeyFileFlag, ""); file.has_value()) {
    if (file->empty()) return absl::InvalidArgumentError("--api-key-file is empty");
    global.api_key_file = *file;
  } else if (auto key = Lookup(flags, env, "", kApiKeyEnv); key.has_value()) {
    global.api_key = *key;
  } else {
    return absl::InvalidArgumentError(
        "no API key: pass --api-key-file PATH or set CERTBRIDGE_API_KEY");
  }
  const std::string output = Lookup(flags, env, kOutputFlag, "").value_or("table");
  if (output == "table") {
    global.output = OutputFormat::kTable;
  } else if (output == "json") {
    global.output = OutputFormat::kJson;
  } else {
    return absl::InvalidArgumentError(
        absl::StrFormat("--output must be \"table\" or \"json\", not \"%s\"", output));
  }
  if (auto timeout = Lookup(flags, env, kTimeoutFlag, ""); timeout.has_value()) {
    double seconds = 0;
    if (!absl::SimpleAtod(*timeout, &seconds) || !std::isfinite(seconds) || seconds <= 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--timeout must be a positive number of seconds, not \"%s\"", *timeout));
    }
    global.timeout = absl::Seconds(seconds);
  }
  return absl::OkStatus();
}

struct RevocationReason {
  int code;
  absl::string_view name;
};
constexpr RevocationReason kRevocationReasons[] = {
    {0, "unspecified"},         {1, "key-compromise"},         {3, "affiliation-changed"},
    {4, "superseded"},          {5, "cessation-of-operation"}, {6, "certificate-hold"},
};

}  // namespace

absl::StatusOr<int> ParseRevocationReason(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  for (const RevocationReason& reason : kRevocationReasons) {
    if (lower == reason.name || lower == absl::StrCat(reason.code)) return reason.code;
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "--reason must be 0 unspecified, 1 key-compromise, 3 affiliation-changed, "
      "4 superseded, 5 cessation-of-operation or 6 certificate-hold, not \"%s\"",
      text));
}

std::string RevocationReasonName(int code) {
  for (const RevocationReason& reason : kRevocationReasons) {
    if (reason.code == code) return std::string(reason.name);
  }
  return absl::StrCat(code);
}

absl::StatusOr<absl::Duration> ParseTtl(absl::string_view text) {
  absl::Duration ttl;
  int64_t days = 0;
  // absl::ParseDuration stops at hours; operators think of token lifetimes in days.
  if (absl::string_view number = text; absl::ConsumeSuffix(&number, "d") &&
                                      absl::SimpleAtoi(number, &days) && days > 0 &&
                                      days < 100000) {
    ttl = absl::Hours(24 * days);
  } else if (!absl::ParseDuration(text, &ttl)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "\"%s\" is not a duration: use e.g. 24h, 90m, 1h30m or 7d", text));
  }
  if (ttl <= absl::ZeroDuration() || ttl == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("TTL \"%s\" must be positive and finite", text));
  }
  if (ttl != absl::Seconds(absl::ToInt64Seconds(ttl))) {
    return absl::InvalidArgumentError(
        absl::StrFormat("TTL \"%s\" must be a whole number of seconds", text));
  }
  return ttl;
}

ParseResult ParseCommandLine(const std::vector<std::string>& args, const Environment& env) {
  Flags global_flags;
  Flags command_flags;
  Args positionals;
  bool help = false;
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_ended || arg.size() < 2 || arg[0] != '-') {
      positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      return UsageError(absl::StrFormat("unknown flag \"%s\"", arg),
                        KnownCommandPath(positionals));
    }
    absl::string_view body = absl::string_view(arg).substr(2);
    std::string name(body.substr(0, body.find('=')));
    const bool is_global = IsGlobalFlag(name);
    if (!is_global && !IsCommandFlag(name)) {
      return UsageError(absl::StrFormat("unknown flag \"--%s\"", name),
                        KnownCommandPath(positionals));
    }
    std::string value;
    if (body.find('=') != absl::string_view::npos) {
      value = std::string(body.substr(body.find('=') + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return UsageError(absl::StrFormat("flag --%s needs a value", name),
                        KnownCommandPath(positionals));
    }
    (is_global ? global_flags : command_flags)[name].push_back(std::move(value));
  }

  if (!positionals.empty() && positionals[0] == "help") {
    help = true;
    positionals.erase(positionals.begin());
  }
  if (positionals.empty()) {
    if (help) return Help(TopHelp());
    return UsageError("missing command", "");
  }
  const GroupSpec* group = FindGroup(positionals[0]);
  if (group == nullptr) {
    return UsageError(absl::StrFormat("unknown command \"%s\"", positionals[0]), "");
  }
  if (positionals.size() == 1) {
    if (help) return Help(GroupHelp(*group));
    return UsageError(absl::StrFormat("missing command after \"%s\"", group->name),
                      group->name);
  }
  const CommandSpec* spec = FindCommand(group->name, positionals[1]);
  if (spec == nullptr) {
    return UsageError(
        absl::StrFormat("unknown command \"%s %s\"", group->name, positionals[1]),
        group->name);
  }
  const std::string path = absl::StrCat(spec->group, " ", spec->verb);
  if (help) return Help(CommandHelp(*spec));

  for (const auto& [name, values] : command_flags) {
    const FlagSpec* known = nullptr;
    for (const FlagSpec& flag : spec->flags) {
      if (flag.name == name) known = &flag;
    }
    if (known == nullptr) {
      return UsageError(absl::StrFormat("\"%s\" takes no flag --%s", path, name), path);
    }
    if (values.size() > 1 && !known->repeatable) {
      return UsageError(absl::StrFormat("--%s is given more than once", name), path);
    }
  }
  for (const FlagSpec& flag : spec->flags) {
    if (flag.required && command_flags.find(flag.name) == command_flags.end()) {
      return UsageError(
          absl::StrFormat("\"%s\" needs --%s %s", path, flag.name, flag.value_name), path);
    }
  }
  Args command_args(positionals.begin() + 2, positionals.end());
  size_t required_args = 0;
  for (absl::string_view arg : spec->args) required_args += IsOptionalArg(arg) ? 0 : 1;
  if (command_args.size() < required_args) {
    return UsageError(absl::StrFormat("\"%s\" needs %s", path,
                                      spec->args[command_args.size()]),
                      path);
  }
  if (command_args.size() > spec->args.size()) {
    return UsageError(absl::StrFormat("unexpected argument \"%s\" for \"%s\"",
                                      command_args[spec->args.size()], path),
                      path);
  }
  for (size_t i = 0; i < command_args.size(); ++i) {
    if (command_args[i].empty()) {
      return UsageError(absl::StrFormat("%s must not be empty",
                                        absl::StripSuffix(absl::StripPrefix(spec->args[i], "["),
                                                          "]")),
                        path);
    }
  }
  absl::StatusOr<BrokerRequest> request = spec->build(command_args, command_flags);
  if (!request.ok()) return UsageError(std::string(request.status().message()), path);

  ParseResult result;
  result.kind = ParseResult::Kind::kInvocation;
  result.invocation.command = path;
  result.invocation.request = *std::move(request);
  if (spec->files != nullptr) result.invocation.files = spec->files(command_args, command_flags);
  if (absl::Status status = ResolveGlobalOptions(global_flags, env, result.invocation.global);
      !status.ok()) {
    return UsageError(std::string(status.message()), path);
  }
  return result;
}

}  // namespace certbridge::ctl
