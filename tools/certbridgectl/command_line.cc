#include "tools/certbridgectl/command_line.h"

#include <cmath>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

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

using Flags = std::map<std::string, std::string, std::less<>>;
using Args = std::vector<std::string>;

struct FlagSpec {
  absl::string_view name;
  absl::string_view value_name;
  absl::string_view help;
  bool required = false;
};

struct CommandSpec {
  absl::string_view group;
  absl::string_view verb;
  std::vector<absl::string_view> args;  // All positional arguments are required.
  absl::string_view summary;
  absl::string_view details;  // More text for the command's --help; may be empty.
  std::vector<FlagSpec> flags;
  absl::StatusOr<AdminRequest> (*build)(const Args& args, const Flags& flags);
};

struct GroupSpec {
  absl::string_view name;
  absl::string_view summary;
};

std::string FlagValue(const Flags& flags, absl::string_view name) {
  auto it = flags.find(name);
  return it == flags.end() ? std::string() : it->second;
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
  };
  return *kGroups;
}

const std::vector<CommandSpec>& Commands() {
  static const auto* const kCommands = new std::vector<CommandSpec>{
      {"tenants", "create", {"NAME"}, "Create a tenant named NAME.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<AdminRequest> {
         v1::CreateTenantRequest request;
         request.set_display_name(args[0]);
         return request;
       }},
      {"tenants", "list", {}, "List tenants.", "", {},
       [](const Args&, const Flags&) -> absl::StatusOr<AdminRequest> {
         return v1::ListTenantsRequest();
       }},
      {"api-keys", "create", {}, "Create an API key and print its secret once.",
       "With the operator key, --tenant is required. With a tenant admin key it must be\n"
       "empty or the key's own tenant.",
       {{"scopes", "SCOPES", "Comma-separated: admin, certificates.", /*required=*/true},
        {"tenant", "ID", "Tenant to create the key in."},
        {"name", "NAME", "Display name of the key, e.g. \"jamf-prod\"."}},
       [](const Args&, const Flags& flags) -> absl::StatusOr<AdminRequest> {
         auto scopes = ParseScopes(FlagValue(flags, "scopes"));
         if (!scopes.ok()) return scopes.status();
         v1::CreateApiKeyRequest request;
         request.set_tenant_id(FlagValue(flags, "tenant"));
         request.set_display_name(FlagValue(flags, "name"));
         for (auto& scope : *scopes) request.add_scopes(std::move(scope));
         return request;
       }},
      {"api-keys", "list", {}, "List API keys (never their secrets).", "",
       {{"tenant", "ID", "Tenant whose keys to list (operator key)."}},
       [](const Args&, const Flags& flags) -> absl::StatusOr<AdminRequest> {
         v1::ListApiKeysRequest request;
         request.set_tenant_id(FlagValue(flags, "tenant"));
         return request;
       }},
      {"enrollment-tokens", "create", {}, "Create an enrollment token and print it once.",
       "Give the token to the Windows admin who installs the connector. It is single use.",
       {{"ttl", "DURATION", "Lifetime, e.g. 24h, 90m, 7d. Default (broker): 24h, max 7d."},
        {"description", "TEXT", "What the token is for, e.g. \"ADCS01 install\"."}},
       [](const Args&, const Flags& flags) -> absl::StatusOr<AdminRequest> {
         v1::CreateEnrollmentTokenRequest request;
         if (auto it = flags.find("ttl"); it != flags.end()) {
           auto ttl = ParseTtl(it->second);
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
       [](const Args& args, const Flags& flags) -> absl::StatusOr<AdminRequest> {
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
       [](const Args&, const Flags&) -> absl::StatusOr<AdminRequest> {
         return v1::ListCertificateAuthoritiesRequest();
       }},
      {"cas", "delete", {"CA_ID"}, "Delete a certificate authority.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<AdminRequest> {
         v1::DeleteCertificateAuthorityRequest request;
         request.set_ca_id(args[0]);
         return request;
       }},
      {"cas", "assign", {"CA_ID", "CONNECTOR_ID"}, "Let a connector serve a CA.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<AdminRequest> {
         v1::AssignCertificateAuthorityRequest request;
         request.set_ca_id(args[0]);
         request.set_connector_id(args[1]);
         return request;
       }},
      {"cas", "unassign", {"CA_ID", "CONNECTOR_ID"}, "Stop a connector serving a CA.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<AdminRequest> {
         v1::UnassignCertificateAuthorityRequest request;
         request.set_ca_id(args[0]);
         request.set_connector_id(args[1]);
         return request;
       }},
      {"connectors", "list", {}, "List connectors with state and connectivity.", "", {},
       [](const Args&, const Flags&) -> absl::StatusOr<AdminRequest> {
         return v1::ListConnectorsRequest();
       }},
      {"connectors", "get", {"ID"}, "Show one connector in detail.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<AdminRequest> {
         v1::GetConnectorRequest request;
         request.set_connector_id(args[0]);
         return request;
       }},
      {"connectors", "approve", {"CODE"}, "Approve the pending connector showing CODE.",
       "CODE is the registration code the agent printed when it registered. Check that\n"
       "host and CA identity are the ones you expect before approving.",
       {},
       [](const Args& args, const Flags&) -> absl::StatusOr<AdminRequest> {
         v1::ApproveConnectorRequest request;
         request.set_registration_code(args[0]);
         return request;
       }},
      {"connectors", "reject", {"CODE"}, "Reject the pending connector showing CODE.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<AdminRequest> {
         v1::RejectConnectorRequest request;
         request.set_registration_code(args[0]);
         return request;
       }},
      {"connectors", "disable", {"ID"}, "Cut a connector off; it gets no work.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<AdminRequest> {
         v1::DisableConnectorRequest request;
         request.set_connector_id(args[0]);
         return request;
       }},
      {"connectors", "enable", {"ID"}, "Re-enable a disabled connector.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<AdminRequest> {
         v1::EnableConnectorRequest request;
         request.set_connector_id(args[0]);
         return request;
       }},
      {"connectors", "delete", {"ID"}, "Delete a connector for good.", "", {},
       [](const Args& args, const Flags&) -> absl::StatusOr<AdminRequest> {
         v1::DeleteConnectorRequest request;
         request.set_connector_id(args[0]);
         return request;
       }},
      {"audit", "list", {}, "List audit events, newest first.", "",
       {{"limit", "N", "Events per page, 1-1000. Default (broker): 100."},
        {"page-token", "TOKEN", "Continue from the previous page's next page token."}},
       [](const Args&, const Flags& flags) -> absl::StatusOr<AdminRequest> {
         v1::ListAuditEventsRequest request;
         if (auto it = flags.find("limit"); it != flags.end()) {
           int limit = 0;
           if (!absl::SimpleAtoi(it->second, &limit) || limit < 1 || limit > 1000) {
             return absl::InvalidArgumentError(absl::StrFormat(
                 "--limit must be a whole number from 1 to 1000, not \"%s\"", it->second));
           }
           request.set_page_size(limit);
         }
         request.set_page_token(FlagValue(flags, "page-token"));
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
    if (!short_flags) absl::StrAppend(&line, " [--", flag.name, " ", flag.value_name, "]");
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
      "certbridgectl manages a certbridge broker through its AdminService: tenants, API\n"
      "keys, enrollment tokens, certificate authorities, connectors and the audit log.\n\n"
      "Usage:\n  certbridgectl [global flags] COMMAND [ARGS] [flags]\n\nCommands:\n",
      CommandList(""), "\n", kGlobalFlagsHelp, "\n", kExitStatusHelp,
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
  if (auto it = flags.find(flag); it != flags.end()) return it->second;
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

}  // namespace

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
    (is_global ? global_flags : command_flags)[name] = std::move(value);
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

  for (const auto& [name, value] : command_flags) {
    bool known = false;
    for (const FlagSpec& flag : spec->flags) known = known || flag.name == name;
    if (!known) {
      return UsageError(absl::StrFormat("\"%s\" takes no flag --%s", path, name), path);
    }
  }
  for (const FlagSpec& flag : spec->flags) {
    if (flag.required && command_flags.find(flag.name) == command_flags.end()) {
      return UsageError(
          absl::StrFormat("\"%s\" needs --%s %s", path, flag.name, flag.value_name), path);
    }
  }
  Args command_args(positionals.begin() + 2, positionals.end());
  if (command_args.size() < spec->args.size()) {
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
      return UsageError(absl::StrFormat("%s must not be empty", spec->args[i]), path);
    }
  }
  absl::StatusOr<AdminRequest> request = spec->build(command_args, command_flags);
  if (!request.ok()) return UsageError(std::string(request.status().message()), path);

  ParseResult result;
  result.kind = ParseResult::Kind::kInvocation;
  result.invocation.command = path;
  result.invocation.request = *std::move(request);
  if (absl::Status status = ResolveGlobalOptions(global_flags, env, result.invocation.global);
      !status.ok()) {
    return UsageError(std::string(status.message()), path);
  }
  return result;
}

}  // namespace certbridge::ctl
