// certbridge-agent: registers with a broker once, then keeps one outbound stream open.
// See docs/agent.md. Exit codes: 0 ok, 1 failure, 2 usage error, 3 agent certificate
// expired (re-register).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/client/agent_info.h"
#include "agent/client/agent_session.h"
#include "agent/client/broker_channel.h"
#include "agent/client/registration.h"
#include "agent/client/renewal_policy.h"
#include "agent/client/state_dir.h"
#include "agent/jobs/agent_policy.h"
#include "agent/jobs/agent_policy_state.h"
#include "agent/jobs/ca_backend_source.h"
#include "agent/jobs/job_executor.h"
#include "agent/jobs/job_journal.h"
#include "agent/jobs/pending_key_store.h"
#include "agent/native_ca_backend.h"
#include "agent/platform/event_log.h"
#include "agent/platform/os_service.h"
#include "agent/platform/shutdown_signal.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/pki/pki.h"

#ifdef CERTBRIDGE_AGENT_HAS_TEST_CA
#include "agent/ca/emulator_ca_backend.h"
#include "agent/ca/test_ca.h"
#endif

namespace certbridge::agent {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitCertificateExpired = 3;

const std::string kDefaultStateDir = DefaultStateDir();

struct FlagSpec {
  const char* name;        // without "--"
  const char* value_name;  // nullptr for a boolean flag
  std::string help;
  // May be given more than once; the values are kept in order (FlagValues).
  bool repeatable = false;
};

struct Command {
  const char* name;
  const char* summary;
  std::vector<FlagSpec> flags;
};

const Command kRegister = {
    "register",
    "Register this agent with a broker (once, with an enrollment token from a tenant admin).\n"
    "Generates the agent's key locally, prints a registration code for an admin to approve,\n"
    "waits for approval and stores key and certificate in the state dir.",
    {
        {"broker", "HOST:PORT", "the broker's agent port (required)"},
        {"broker-ca", "PATH", "PEM root certificate of the broker's TLS certificate (required)"},
        {"token-file", "PATH",
         "file holding the enrollment token (single use), or - to read it from standard\n"
         "                            input; one of --token-file and --token is required"},
        {"token", "TOKEN",
         "the enrollment token itself; other users can see it in the process list while\n"
         "                            the agent waits for approval: prefer --token-file"},
        {"state-dir", "DIR", "where the key and certificate go (default " + kDefaultStateDir + ")"},
        {"host", "NAME", "host name reported to the broker (default: this host's name)"},
        {"proxy", "http://HOST:PORT",
         "reach the broker through this HTTP proxy (CONNECT); default:\n"
         "                            https_proxy/grpc_proxy from the environment, else direct"},
        {"ca-identity", "ACCOUNT",
         "Windows account AD CS sees, e.g. 'CORP\\ADCS01$' (default: <HOST>$)"},
        {"force", nullptr, "replace an existing registration in the state dir"},
    }};

const Command kRun = {
    "run",
    "Connect to the broker and keep the stream open; reconnects by itself and renews the\n"
    "agent certificate before it expires. Stops cleanly on SIGTERM or SIGINT.",
    {
        {"state-dir", "DIR", "state dir written by register (default " + kDefaultStateDir + ")"},
        {"renew-fraction", "F", "renew after this fraction of the certificate's life (0.6667)"},
        {"backoff-base-ms", "MS", "first reconnect delay ceiling (1000)"},
        {"backoff-max-ms", "MS", "largest reconnect delay (60000)"},
        {"proxy", "http://HOST:PORT",
         "reach the broker through this HTTP proxy (CONNECT); default:\n"
         "                            https_proxy/grpc_proxy from the environment, else direct"},
        {"ca-emulator", "HOST:PORT",
         "run jobs against adcs-emulator at this address, acting as the\n"
         "                            registered ca_identity (Linux has no other CA client:\n"
         "                            without it every job fails; Windows uses AD CS's COM)"},
        {"max-concurrent-jobs", "N", "jobs run at once; the broker's credit window (4)"},
        {"allowed-ca", "'HOST\\CA'",
         "a CA config string jobs may use; repeat for several (default:\n"
         "                            any CA, logged as a warning at start)",
         true},
        {"allowed-template", "NAME",
         "a certificate template jobs may request; repeat for several\n"
         "                            (default: any template, logged as a warning at start)",
         true},
        {"allow-revoke-any", nullptr,
         "revoke any serial the broker names (default: only certificates\n"
         "                            issued through this agent)"},
    }};

const Command kTrustDeliveryCertificate = {
    "trust-delivery-certificate",
    "Pin the tenant's delivery certificate by its SHA-256 fingerprint: key-generation jobs\n"
    "envelope PKCS#12 passwords only to the pinned certificate. register pins the one the\n"
    "approval carries (if the tenant had none then, the first key-generation job pins the one\n"
    "it carries, logged); run this, after checking the fingerprint with the tenant, when the\n"
    "tenant replaces its delivery certificate.\n"
    "A running agent uses the new pin from its next job.",
    {
        {"sha256", "HEX", "the certificate's SHA-256 fingerprint, with or without colons (required)"},
        {"state-dir", "DIR", "state dir written by register (default " + kDefaultStateDir + ")"},
    }};

const Command kStatus = {
    "status",
    "Show this agent's registration: connector, tenant, certificate serial and expiry.",
    {
        {"state-dir", "DIR", "state dir written by register (default " + kDefaultStateDir + ")"},
    }};

#ifdef CERTBRIDGE_AGENT_HAS_TEST_CA
const Command kTestCa = {
    "test-ca",
    "Check that a CA answers, list its published templates and try a test enrollment.\n"
    "The Linux build talks to adcs-emulator; the Windows service build talks to AD CS.",
    {
        {"emulator", "HOST:PORT",
         "adcs-emulator's gRPC address (required on Linux; on Windows\n"
         "                            the default is the CA's COM interface, certcli.dll)"},
        {"config", "'HOST\\CA'", "the CA's config string, e.g. 'adcs01.corp.example\\Corp CA' (required)"},
        {"template", "NAME", "certificate template for the test enrollment (default: skip it)"},
        {"identity", "ACCOUNT", "the Windows identity to act as (default: <HOST>$)"},
        {"timeout-seconds", "N", "deadline of each CA call (30)"},
    }};
#endif

void PrintCommandUsage(const Command& command, std::ostream& out) {
  out << "Usage: certbridge-agent " << command.name << " [flags]\n\n"
      << command.summary << "\n\nFlags:\n";
  for (const FlagSpec& f : command.flags) {
    std::string left = absl::StrCat("  --", f.name, f.value_name ? " " : "",
                                    f.value_name ? f.value_name : "");
    out << left << std::string(left.size() < 28 ? 28 - left.size() : 1, ' ') << f.help << "\n";
  }
  out << "  --help                    show this help\n";
}

void PrintUsage(std::ostream& out) {
  out << "Usage: certbridge-agent <command> [flags]\n\n"
         "Commands:\n"
         "  register   register this agent with a broker (needs an enrollment token)\n"
         "  run        keep the stream to the broker open (run this as the service)\n"
         "  status     show the registration and certificate in the state dir\n"
         "  trust-delivery-certificate  pin the tenant's delivery certificate (SHA-256)\n"
#ifdef CERTBRIDGE_AGENT_HAS_TEST_CA
         "  test-ca    check that a CA answers and can issue (like certutil -ping)\n"
#endif
         "  version    print the agent version\n";
  if (HasServiceCommand()) {
    out << "  service    install|uninstall the Windows service; `service run` is what it runs\n";
  }
  out << "\n"
         "`certbridge-agent <command> --help` describes a command's flags.\n";
}

// Parses --name VALUE, --name=VALUE and boolean --name. Returns false (after printing the
// problem and the usage to stderr) on an unknown flag, a missing value or a stray argument.
// Sets *help when --help or -h was given.
constexpr char kRepeatSeparator = '\0';

bool ParseFlags(const Command& command, int argc, char** argv,
                std::map<std::string, std::string>& values, bool& help) {
  help = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      return true;
    }
    if (arg.rfind("--", 0) != 0) {
      std::cerr << "certbridge-agent " << command.name << ": unexpected argument \"" << arg
                << "\"\n\n";
      PrintCommandUsage(command, std::cerr);
      return false;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& f : command.flags) {
      if (name == f.name) spec = &f;
    }
    if (spec == nullptr) {
      std::cerr << "certbridge-agent " << command.name << ": unknown flag --" << name << "\n\n";
      PrintCommandUsage(command, std::cerr);
      return false;
    }
    if (spec->value_name == nullptr) {
      if (has_value) {
        std::cerr << "certbridge-agent " << command.name << ": --" << name
                  << " takes no value\n\n";
        PrintCommandUsage(command, std::cerr);
        return false;
      }
      values[name] = "true";
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::cerr << "certbridge-agent " << command.name << ": --" << name << " needs a "
                  << spec->value_name << "\n\n";
        PrintCommandUsage(command, std::cerr);
        return false;
      }
      value = argv[++i];
    }
    if (spec->repeatable && values.count(name) > 0) {
      values[name] += kRepeatSeparator;  // CA config strings and template names have no NUL
      values[name] += value;
    } else {
      values[name] = value;
    }
  }
  return true;
}

// Every value of a repeatable flag, in order.
std::vector<std::string> FlagValues(const std::map<std::string, std::string>& values,
                                    const std::string& name) {
  auto it = values.find(name);
  if (it == values.end()) return {};
  return absl::StrSplit(it->second, kRepeatSeparator);
}

std::string Flag(const std::map<std::string, std::string>& values, const std::string& name,
                 const std::string& fallback = "") {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second;
}

int UsageError(const Command& command, const std::string& problem) {
  std::cerr << "certbridge-agent " << command.name << ": " << problem << "\n\n";
  PrintCommandUsage(command, std::cerr);
  return kExitUsage;
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

// The enrollment token from `path` ("-": standard input), without surrounding white space.
// Read up to a bound: a token is a few dozen characters, and the file may be anything.
absl::StatusOr<std::string> ReadEnrollmentToken(const std::string& path) {
  constexpr size_t kMaxTokenFile = 4096;
  std::string text(kMaxTokenFile + 1, '\0');
  size_t got = 0;
  if (path == "-") {
    std::cin.read(text.data(), static_cast<std::streamsize>(text.size()));
    got = static_cast<size_t>(std::cin.gcount());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    got = static_cast<size_t>(in.gcount());
  }
  if (got > kMaxTokenFile) {
    return absl::InvalidArgumentError(absl::StrCat(
        path == "-" ? "standard input" : path, " is longer than ", kMaxTokenFile,
        " bytes: it should hold only the enrollment token"));
  }
  text.resize(got);
  std::string token(absl::StripAsciiWhitespace(text));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path == "-" ? "standard input" : path,
        " holds no enrollment token: ask a tenant admin for one (certbridgectl "
        "enrollment-tokens create)"));
  }
  return token;
}

int Register(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  bool help;
  if (!ParseFlags(kRegister, argc, argv, flags, help)) return kExitUsage;
  if (help) {
    PrintCommandUsage(kRegister, std::cout);
    return kExitOk;
  }
  for (const char* required : {"broker", "broker-ca"}) {
    if (Flag(flags, required).empty()) {
      return UsageError(kRegister, absl::StrCat("--", required, " is required"));
    }
  }
  if (Flag(flags, "token").empty() == Flag(flags, "token-file").empty()) {
    return UsageError(kRegister,
                      "give the enrollment token with --token-file PATH (or - for standard "
                      "input), or with --token, not both");
  }
  RegistrationParams params;
  params.broker_address = Flag(flags, "broker");
  if (std::string token_file = Flag(flags, "token-file"); !token_file.empty()) {
    absl::StatusOr<std::string> token = ReadEnrollmentToken(token_file);
    if (!token.ok()) {
      std::cerr << "certbridge-agent register: --token-file: " << token.status().message()
                << "\n";
      return kExitFailure;
    }
    params.enrollment_token = *std::move(token);
  } else {
    params.enrollment_token = Flag(flags, "token");
  }
  params.state_dir = Flag(flags, "state-dir", kDefaultStateDir);
  params.host = Flag(flags, "host");
  params.ca_identity = Flag(flags, "ca-identity");
  params.overwrite = !Flag(flags, "force").empty();
  if (std::string proxy = Flag(flags, "proxy"); !proxy.empty()) {
    absl::StatusOr<std::string> url = ParseProxyUrl(proxy);
    if (!url.ok()) return UsageError(kRegister, absl::StrCat("--", url.status().message()));
    params.proxy = *url;
  }
  absl::StatusOr<std::string> ca = ReadWholeFile(Flag(flags, "broker-ca"));
  if (!ca.ok()) {
    std::cerr << "certbridge-agent register: --broker-ca: " << ca.status().message() << "\n";
    return kExitFailure;
  }
  params.broker_ca_pem = *ca;

  std::unique_ptr<EventLog> event_log = EventLog::Open();
  params.event_log = event_log.get();
  RealClock clock;
  absl::StatusOr<RegistrationResult> result = RegisterAgent(params, clock, std::cout);
  if (!result.ok()) {
    std::cerr << "\ncertbridge-agent register failed: " << result.status().message() << "\n";
    return kExitFailure;
  }
  std::cout << "\nApproved. Connector " << result->registration.connector_id << " (tenant "
            << result->registration.tenant_id << ")\n"
            << "Certificate " << result->leaf.serial_hex << " valid until "
            << FormatUtc(result->leaf.not_after) << "\n"
            << (result->delivery_certificate_sha256.empty()
                    ? std::string("Delivery certificate: none yet (the tenant has not set "
                                  "one); the first key-generation job's is pinned and "
                                  "logged\n")
                    : absl::StrCat("Pinned delivery certificate SHA-256 ",
                                   FormatSha256Fingerprint(result->delivery_certificate_sha256),
                                   "\n  (compare it with the fingerprint your MDM vendor "
                                   "publishes)\n"))
            << "Saved to " << params.state_dir << ". Start the agent with:\n"
            << "  certbridge-agent run --state-dir " << params.state_dir << "\n";
  return kExitOk;
}

// Once at start: what the customer's policy allows, what it leaves open, and the pinned
// delivery certificate.
void LogPolicy(const AgentPolicy& policy, const AgentPolicyState& state) {
  const AgentPolicyOptions& o = policy.options();
  absl::StatusOr<std::optional<std::string>> pin = state.PinnedDeliveryCertificate();
  LogInfo("policy.loaded",
          {{"allowed_ca", o.allowed_ca_configs.empty() ? "any" : absl::StrJoin(o.allowed_ca_configs, "; ")},
           {"allowed_template",
            o.allowed_templates.empty() ? "any" : absl::StrJoin(o.allowed_templates, "; ")},
           {"allow_revoke_any", o.allow_revoke_any ? "true" : "false"},
           {"delivery_certificate_sha256",
            !pin.ok()              ? pin.status().ToString()
            : pin->has_value()     ? FormatSha256Fingerprint(**pin)
                                   : "not pinned (the tenant had no delivery certificate "
                                     "at registration; the first key-generation job pins "
                                     "it)"}});
  for (const std::string& open : policy.OpenEnds()) {
    LogWarning("policy.open", {{"what", open}});
  }
}

int TrustDeliveryCertificate(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  bool help;
  if (!ParseFlags(kTrustDeliveryCertificate, argc, argv, flags, help)) return kExitUsage;
  if (help) {
    PrintCommandUsage(kTrustDeliveryCertificate, std::cout);
    return kExitOk;
  }
  absl::StatusOr<std::string> sha256 = NormalizeSha256Fingerprint(Flag(flags, "sha256"));
  if (!sha256.ok()) {
    return UsageError(kTrustDeliveryCertificate,
                      absl::StrCat("--sha256: ", sha256.status().message()));
  }
  StateDir dir(Flag(flags, "state-dir", kDefaultStateDir));
  // Only into a registered state dir: a mistyped --state-dir must not create a new one.
  absl::StatusOr<AgentRegistration> reg = dir.LoadRegistration();
  absl::StatusOr<std::unique_ptr<AgentPolicyState>> state =
      reg.ok() ? AgentPolicyState::Open(dir.FilePath("policy"))
               : absl::StatusOr<std::unique_ptr<AgentPolicyState>>(reg.status());
  absl::StatusOr<std::optional<std::string>> before =
      state.ok() ? (*state)->PinnedDeliveryCertificate()
                 : absl::StatusOr<std::optional<std::string>>(state.status());
  absl::Status pinned = state.ok() ? (*state)->PinDeliveryCertificate(*sha256) : state.status();
  if (!pinned.ok()) {
    std::cerr << "certbridge-agent trust-delivery-certificate: " << pinned.message() << "\n";
    return kExitFailure;
  }
  LogWarning("policy.delivery_certificate_trusted",
             {{"sha256", FormatSha256Fingerprint(*sha256)},
              {"previous", before.ok() && before->has_value() ? FormatSha256Fingerprint(**before)
                                                              : ""}});
  std::cout << "Pinned delivery certificate SHA-256 " << FormatSha256Fingerprint(*sha256) << "\n";
  if (before.ok() && before->has_value() && **before != *sha256) {
    std::cout << "(replaces " << FormatSha256Fingerprint(**before) << ")\n";
  }
  return kExitOk;
}

int Run(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  bool help;
  if (!ParseFlags(kRun, argc, argv, flags, help)) return kExitUsage;
  if (help) {
    PrintCommandUsage(kRun, std::cout);
    return kExitOk;
  }
  AgentSessionOptions options;
  options.state_dir = Flag(flags, "state-dir", kDefaultStateDir);
  if (std::string proxy = Flag(flags, "proxy"); !proxy.empty()) {
    absl::StatusOr<std::string> url = ParseProxyUrl(proxy);
    if (!url.ok()) return UsageError(kRun, absl::StrCat("--", url.status().message()));
    options.proxy = *url;
  }
  if (std::string f = Flag(flags, "renew-fraction"); !f.empty()) {
    if (!absl::SimpleAtod(f, &options.renew_fraction) || options.renew_fraction <= 0 ||
        options.renew_fraction >= 1) {
      return UsageError(kRun, "--renew-fraction must be a number between 0 and 1");
    }
  }
  for (const char* name : {"backoff-base-ms", "backoff-max-ms"}) {
    std::string f = Flag(flags, name);
    if (f.empty()) continue;
    int64_t ms;
    if (!absl::SimpleAtoi(f, &ms) || ms <= 0) {
      return UsageError(kRun, absl::StrCat("--", name, " must be a positive number"));
    }
    (std::string(name) == "backoff-base-ms" ? options.backoff.base : options.backoff.max) =
        absl::Milliseconds(ms);
  }
  if (options.backoff.max < options.backoff.base) {
    return UsageError(kRun, "--backoff-max-ms must not be smaller than --backoff-base-ms");
  }
  int max_jobs = 4;
  if (std::string f = Flag(flags, "max-concurrent-jobs"); !f.empty()) {
    if (!absl::SimpleAtoi(f, &max_jobs) || max_jobs < 1 || max_jobs > 64) {
      return UsageError(kRun, "--max-concurrent-jobs must be a number from 1 to 64");
    }
  }
  AgentPolicyOptions policy_options;
  policy_options.allowed_ca_configs = FlagValues(flags, "allowed-ca");
  policy_options.allowed_templates = FlagValues(flags, "allowed-template");
  policy_options.allow_revoke_any = !Flag(flags, "allow-revoke-any").empty();
  for (const auto* list : {&policy_options.allowed_ca_configs, &policy_options.allowed_templates}) {
    for (const std::string& v : *list) {
      if (v.empty()) return UsageError(kRun, "--allowed-ca and --allowed-template need a value");
    }
  }
  const std::string emulator = Flag(flags, "ca-emulator");
#ifndef CERTBRIDGE_AGENT_HAS_TEST_CA
  if (!emulator.empty()) {
    return UsageError(kRun, "--ca-emulator: this build has no adcs-emulator client");
  }
#endif

  // SIGTERM/SIGINT (Windows: Ctrl+C, console close) end Run() through Stop(). Installed
  // before any thread exists, so that every later thread inherits the POSIX signal mask.
  std::unique_ptr<ShutdownSignal> shutdown = ShutdownSignal::Install();
  std::unique_ptr<EventLog> event_log = EventLog::Open();
  options.event_log = event_log.get();

  // The job side needs the registration (ca_identity, state dir); without one, Run()
  // below reports what is missing.
  std::unique_ptr<AgentPolicyState> policy_state;  // outlives the journal, which keeps serials for it
  std::unique_ptr<JobJournal> journal;
  std::unique_ptr<PendingKeyStore> keys;
  std::unique_ptr<CaBackendSource> backends;
  std::unique_ptr<JobExecutor> executor;
  StateDir dir(options.state_dir);
  if (absl::StatusOr<AgentRegistration> reg = dir.LoadRegistration(); reg.ok()) {
    if (emulator.empty()) {
      backends = NativeCaBackendSource();  // Windows: ComCaBackend; Linux: none
    } else {
#ifdef CERTBRIDGE_AGENT_HAS_TEST_CA
      const std::string identity = reg->ca_identity;
      backends = std::make_unique<CachingCaBackendSource>(
          [emulator, identity](const std::string& config)
              -> absl::StatusOr<std::unique_ptr<CaBackend>> {
            absl::StatusOr<std::unique_ptr<EmulatorCaBackend>> b = EmulatorCaBackend::Create(
                {.target = emulator, .identity = identity, .config = config, .channel = nullptr});
            if (!b.ok()) return b.status();
            return std::unique_ptr<CaBackend>(std::move(*b));
          });
#endif
    }
    // The policy state first: the journal keeps issued serials for it (§5.3).
    absl::StatusOr<std::unique_ptr<AgentPolicyState>> p =
        AgentPolicyState::Open(dir.FilePath("policy"));
    absl::StatusOr<std::unique_ptr<JobJournal>> j =
        p.ok() ? JobJournal::Open(dir.FilePath("journal"), IssuedSerialJournalOptions(**p))
               : absl::StatusOr<std::unique_ptr<JobJournal>>(p.status());
    absl::StatusOr<std::unique_ptr<PendingKeyStore>> k =
        j.ok() ? PendingKeyStore::Open(dir.FilePath("pending-keys"))
               : absl::StatusOr<std::unique_ptr<PendingKeyStore>>(j.status());
    absl::StatusOr<std::unique_ptr<JobExecutor>> e =
        k.ok() ? JobExecutor::Create({.journal = j->get(), .keys = k->get(),
                                      .backends = backends.get(),
                                      .policy_state = p->get(),
                                      .policy = AgentPolicy(policy_options),
                                      .max_concurrent_jobs = max_jobs,
                                      .event_log = event_log.get()})
               : absl::StatusOr<std::unique_ptr<JobExecutor>>(k.status());
    if (!e.ok()) {
      std::cerr << "certbridge-agent run: " << e.status().message() << "\n";
      return kExitFailure;
    }
    LogPolicy(AgentPolicy(policy_options), **p);
    journal = *std::move(j);
    keys = *std::move(k);
    policy_state = *std::move(p);
    executor = *std::move(e);
    options.jobs = executor.get();
  }

  RealClock clock;
  AgentSession session(options, clock);
  shutdown->OnShutdown([&session] { session.Stop(); });
  absl::Status status = session.Run();
  // Stops waiting if Run ended on its own (certificate expired, bad state dir).
  shutdown.reset();
  if (status.ok()) return kExitOk;
  std::cerr << "certbridge-agent run: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kUnauthenticated ? kExitCertificateExpired
                                                             : kExitFailure;
}

int Status(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  bool help;
  if (!ParseFlags(kStatus, argc, argv, flags, help)) return kExitUsage;
  if (help) {
    PrintCommandUsage(kStatus, std::cout);
    return kExitOk;
  }
  StateDir dir(Flag(flags, "state-dir", kDefaultStateDir));
  absl::StatusOr<AgentRegistration> reg = dir.LoadRegistration();
  // Read-only on purpose (no LoadCredentials): a running agent may be renewing right now.
  absl::StatusOr<std::string> chain_pem =
      reg.ok() ? ReadWholeFile(dir.FilePath(StateDir::kChainFile))
               : absl::StatusOr<std::string>(reg.status());
  if (!chain_pem.ok()) {
    std::cerr << "certbridge-agent status: " << chain_pem.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<std::vector<std::string>> chain = pki::SplitPemChain(*chain_pem);
  absl::StatusOr<pki::CertificateInfo> leaf =
      chain.ok() ? pki::ParseCertificate(chain->front()) : chain.status();
  if (!leaf.ok()) {
    std::cerr << "certbridge-agent status: " << dir.FilePath(StateDir::kChainFile) << ": "
              << leaf.status().message() << "\n";
    return kExitFailure;
  }
  absl::Time now = absl::Now();
  bool expired = now >= leaf->not_after;
  std::cout << "connector:     " << reg->connector_id << "\n"
            << "tenant:        " << reg->tenant_id << "\n"
            << "broker:        " << reg->broker_address << "\n"
            << "host:          " << reg->host << "\n"
            << "ca identity:   " << reg->ca_identity << "\n"
            << "certificate:   serial " << leaf->serial_hex << "\n"
            << "valid:         " << FormatUtc(leaf->not_before) << " to "
            << FormatUtc(leaf->not_after) << (expired ? "  EXPIRED" : "") << "\n"
            << "renews after:  "
            << FormatUtc(RenewalTime(leaf->not_before, leaf->not_after, kDefaultRenewFraction))
            << "\n"
            << "state dir:     " << dir.path() << "\n";
  if (expired) {
    std::cout << "\nThe agent certificate has expired. Re-register with\n"
              << "  certbridge-agent register --force --token-file <file with the new token> --broker "
              << reg->broker_address << " --broker-ca " << dir.FilePath(StateDir::kBrokerCaFile)
              << " --state-dir " << dir.path() << "\n";
    return kExitCertificateExpired;
  }
  return kExitOk;
}

#ifdef CERTBRIDGE_AGENT_HAS_TEST_CA
int TestCa(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  bool help;
  if (!ParseFlags(kTestCa, argc, argv, flags, help)) return kExitUsage;
  if (help) {
    PrintCommandUsage(kTestCa, std::cout);
    return kExitOk;
  }
  if (Flag(flags, "config").empty()) return UsageError(kTestCa, "--config is required");
  TestCaOptions options;
  options.config = Flag(flags, "config");
  options.template_name = Flag(flags, "template");
  if (std::string t = Flag(flags, "timeout-seconds"); !t.empty()) {
    int64_t seconds;
    if (!absl::SimpleAtoi(t, &seconds) || seconds <= 0) {
      return UsageError(kTestCa, "--timeout-seconds must be a positive number");
    }
    options.timeout = absl::Seconds(seconds);
  }
  // Without --emulator: this platform's own CA client (Windows: ComCaBackend, which acts
  // as the account running the command; Linux: none, the error says to give --emulator).
  std::string identity = Flag(flags, "identity", DefaultCaIdentity(LocalHostName()));
  absl::StatusOr<std::unique_ptr<CaBackend>> backend =
      Flag(flags, "emulator").empty()
          ? NativeCaBackend(options.config)
          : absl::StatusOr<std::unique_ptr<CaBackend>>(EmulatorCaBackend::Create(
                {.target = Flag(flags, "emulator"), .identity = identity,
                 .config = options.config, .channel = nullptr}));
  if (!backend.ok()) {
    std::cerr << "certbridge-agent test-ca: " << backend.status().message() << "\n";
    return kExitFailure;
  }
  return RunTestCa(**backend, options, std::cout);
}
#endif

int Main(int argc, char** argv) {
  SetLogComponent("agent");
  // As in broker/main.cc: Debian's Abseil runs its debug deadlock detector on every
  // absl::Mutex::Lock (ours and gRPC's); lock order is checked by -Wthread-safety and the
  // TSan tests instead (docs/benchmarks.md).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc < 2) {
    PrintUsage(std::cerr);
    return kExitUsage;
  }
  std::string command = argv[1];
  if (command == "register") return Register(argc - 2, argv + 2);
  if (command == "run") return Run(argc - 2, argv + 2);
  if (command == "status") return Status(argc - 2, argv + 2);
  if (command == "trust-delivery-certificate") return TrustDeliveryCertificate(argc - 2, argv + 2);
#ifdef CERTBRIDGE_AGENT_HAS_TEST_CA
  if (command == "test-ca") return TestCa(argc - 2, argv + 2);
#endif
  if (command == "service" && HasServiceCommand()) return ServiceCommand(argc - 2, argv + 2, Run);
  if (command == "version" || command == "--version") {
    std::cout << "certbridge-agent " << AgentVersion() << "\n";
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    PrintUsage(std::cout);
    return kExitOk;
  }
  std::cerr << "certbridge-agent: unknown command \"" << command << "\"\n\n";
  PrintUsage(std::cerr);
  return kExitUsage;
}

}  // namespace
}  // namespace certbridge::agent

int main(int argc, char** argv) { return certbridge::agent::Main(argc, argv); }
