#include "tools/certbridgectl/scep_commands.h"

#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "certbridge/v1/scep.grpc.pb.h"
#include "tools/certbridgectl/commands.h"

namespace certbridge::ctl {
namespace {

// Global flags that take a value (the rest of certbridgectl's are not used here).
const char* const kGlobalValueFlags[] = {"--broker", "--ca-cert", "--api-key-file", "--output",
                                         "--timeout"};

bool IsGlobalValueFlag(const std::string& arg) {
  for (const char* f : kGlobalValueFlags) {
    if (arg == f) return true;
  }
  return false;
}

struct Parsed {
  GlobalOptions global;
  bool help = false;                                       // --help or -h anywhere
  int timeout_seconds = 30;                                // --timeout
  std::vector<std::string> words;                          // positional
  std::multimap<std::string, std::string> flags;           // --name value
};

bool Parse(const std::vector<std::string>& args, const Environment& env, Parsed& p,
           std::ostream& err) {
  if (auto it = env.find(std::string(kBrokerEnv)); it != env.end()) p.global.broker = it->second;
  if (auto it = env.find(std::string(kCaCertEnv)); it != env.end()) p.global.ca_cert_file = it->second;
  if (auto it = env.find(std::string(kApiKeyEnv)); it != env.end()) p.global.api_key = it->second;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--help" || a == "-h") {
      p.help = true;
      continue;
    }
    if (!absl::StartsWith(a, "--")) {
      p.words.push_back(a);
      continue;
    }
    std::string value;
    if (size_t eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      err << "certbridgectl: " << a << " needs a value\n";
      return false;
    }
    if (a == "--broker") {
      p.global.broker = value;
    } else if (a == "--ca-cert") {
      p.global.ca_cert_file = value;
    } else if (a == "--api-key-file") {
      p.global.api_key_file = value;
    } else if (a == "--timeout") {
      if (!absl::SimpleAtoi(value, &p.timeout_seconds) || p.timeout_seconds <= 0) {
        err << "certbridgectl: --timeout takes a positive number of seconds\n";
        return false;
      }
    } else if (a == "--output") {
      // Accepted for symmetry with the other commands; SCEP output is always lines.
    } else {
      p.flags.emplace(a.substr(2), value);
    }
  }
  if (p.help) return true;
  if (p.global.broker.empty()) {
    err << "certbridgectl: --broker HOST:PORT or CERTBRIDGE_BROKER is required\n";
    return false;
  }
  return true;
}

std::string Flag(const Parsed& p, const std::string& name) {
  auto it = p.flags.find(name);
  return it == p.flags.end() ? std::string() : it->second;
}

std::vector<std::string> Flags(const Parsed& p, const std::string& name) {
  std::vector<std::string> out;
  for (auto [it, end] = p.flags.equal_range(name); it != end; ++it) out.push_back(it->second);
  return out;
}

std::string Time(const google::protobuf::Timestamp& t) {
  return absl::FormatTime(absl::RFC3339_sec, absl::FromUnixSeconds(t.seconds()), absl::UTCTimeZone());
}

void PrintProfile(const v1::ScepProfile& p, std::ostream& out) {
  out << "profile_id: " << p.profile_id() << "\n"
      << "display_name: " << p.display_name() << "\n"
      << "scep_path: " << p.scep_path() << "\n"
      << "ca_id: " << p.ca_id() << "\n"
      << "template: " << p.template_name() << "\n"
      << "ra_template: " << p.ra_template_name() << "\n"
      << "challenge_mode: " << v1::ScepChallengeMode_Name(p.challenge_mode()) << "\n"
      << "subject_patterns: " << absl::StrJoin(p.policy().subject_patterns(), " ") << "\n"
      << "san_patterns: " << absl::StrJoin(p.policy().san_patterns(), " ") << "\n"
      << "disabled: " << (p.disabled() ? "true" : "false") << "\n"
      << "ra_certificate: "
      << (p.ra_certificate_pem().empty()
              ? absl::StrCat("not issued yet (request ",
                             p.ra_pending_request_name().empty() ? "not sent"
                                                                 : p.ra_pending_request_name(),
                             ")")
              : absl::StrCat("issued, expires ", Time(p.ra_expire_time())))
      << "\n";
}

int Report(const grpc::Status& s, std::ostream& err) {
  err << "certbridgectl: " << s.error_message() << " (" << s.error_code() << ")\n";
  return kExitFailure;
}

constexpr char kUsage[] =
    "usage: certbridgectl scep profiles create --ca-id ID --template T --ra-template T "
    "[--display-name N] [--subject-pattern P]... [--san-pattern P]... "
    "[--challenge-mode dynamic|static] [--static-challenge-file F]\n"
    "       certbridgectl scep profiles list | get PROFILE_ID | disable PROFILE_ID\n"
    "       certbridgectl scep challenges create PROFILE_ID [--subject S] "
    "[--san TYPE:VALUE]... [--sid SID] [--device-id D] [--ttl 1h]\n"
    "SCEP profiles (admin scope) and dynamic challenges (certificates scope); docs/scep.md.\n";

int Usage(std::ostream& err) {
  err << kUsage;
  return kExitUsage;
}

}  // namespace

bool IsScepCommand(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (IsGlobalValueFlag(args[i])) {
      ++i;
      continue;
    }
    if (absl::StartsWith(args[i], "--")) continue;
    return args[i] == "scep";
  }
  return false;
}

int RunScepCommand(const std::vector<std::string>& args, const Environment& env,
                   std::ostream& out, std::ostream& err) {
  Parsed p;
  if (!Parse(args, env, p, err)) return kExitUsage;
  if (p.help) {
    out << kUsage;
    return kExitSuccess;
  }
  if (p.words.size() < 3 || p.words[0] != "scep") return Usage(err);
  absl::StatusOr<std::string> key = LoadApiKey(p.global);
  if (!key.ok()) {
    err << "certbridgectl: " << key.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = CreateBrokerChannel(p.global);
  if (!channel.ok()) {
    err << "certbridgectl: " << channel.status().message() << "\n";
    return kExitFailure;
  }
  std::unique_ptr<v1::ScepService::Stub> stub = v1::ScepService::NewStub(*channel);
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", *key));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(p.timeout_seconds));
  const std::string& noun = p.words[1];
  const std::string& verb = p.words[2];
  if (noun == "profiles" && verb == "create") {
    v1::CreateScepProfileRequest r;
    r.set_display_name(Flag(p, "display-name"));
    r.set_ca_id(Flag(p, "ca-id"));
    r.set_template_name(Flag(p, "template"));
    r.set_ra_template_name(Flag(p, "ra-template"));
    for (const std::string& s : Flags(p, "subject-pattern")) r.mutable_policy()->add_subject_patterns(s);
    for (const std::string& s : Flags(p, "san-pattern")) r.mutable_policy()->add_san_patterns(s);
    const std::string mode = absl::AsciiStrToLower(Flag(p, "challenge-mode"));
    if (mode == "static") {
      r.set_challenge_mode(v1::SCEP_CHALLENGE_MODE_STATIC);
      std::ifstream file(Flag(p, "static-challenge-file"));
      std::stringstream text;
      text << file.rdbuf();
      if (!file) {
        err << "certbridgectl: --static-challenge-file: cannot read the file\n";
        return kExitFailure;
      }
      r.set_static_challenge(std::string(absl::StripAsciiWhitespace(text.str())));
    } else if (mode.empty() || mode == "dynamic") {
      r.set_challenge_mode(v1::SCEP_CHALLENGE_MODE_DYNAMIC);
    } else {
      return Usage(err);
    }
    v1::ScepProfile profile;
    grpc::Status s = stub->CreateScepProfile(&context, r, &profile);
    if (!s.ok()) return Report(s, err);
    PrintProfile(profile, out);
    return kExitSuccess;
  }
  if (noun == "profiles" && verb == "list") {
    v1::ListScepProfilesResponse list;
    grpc::Status s = stub->ListScepProfiles(&context, v1::ListScepProfilesRequest(), &list);
    if (!s.ok()) return Report(s, err);
    for (const v1::ScepProfile& profile : list.profiles()) {
      PrintProfile(profile, out);
      out << "\n";
    }
    return kExitSuccess;
  }
  if (noun == "profiles" && (verb == "get" || verb == "disable") && p.words.size() == 4) {
    v1::ScepProfile profile;
    grpc::Status s;
    if (verb == "get") {
      v1::GetScepProfileRequest r;
      r.set_profile_id(p.words[3]);
      s = stub->GetScepProfile(&context, r, &profile);
    } else {
      v1::DisableScepProfileRequest r;
      r.set_profile_id(p.words[3]);
      s = stub->DisableScepProfile(&context, r, &profile);
    }
    if (!s.ok()) return Report(s, err);
    PrintProfile(profile, out);
    return kExitSuccess;
  }
  if (noun == "challenges" && verb == "create" && p.words.size() == 4) {
    v1::CreateScepChallengeRequest r;
    r.set_profile_id(p.words[3]);
    r.set_subject(Flag(p, "subject"));
    for (const std::string& s : Flags(p, "san")) r.add_subject_alt_names(s);
    r.set_sid(Flag(p, "sid"));
    r.set_device_id(Flag(p, "device-id"));
    if (const std::string ttl = Flag(p, "ttl"); !ttl.empty()) {
      absl::Duration d;
      if (!absl::ParseDuration(ttl, &d)) return Usage(err);
      r.mutable_ttl()->set_seconds(absl::ToInt64Seconds(d));
    }
    v1::ScepChallenge challenge;
    grpc::Status s = stub->CreateScepChallenge(&context, r, &challenge);
    if (!s.ok()) return Report(s, err);
    out << challenge.challenge() << "\n";
    err << "single use; expires " << Time(challenge.expire_time()) << "\n";
    return kExitSuccess;
  }
  return Usage(err);
}

}  // namespace certbridge::ctl
