#include "agent/emulator/officer_cli.h"

#include <fstream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "adcsemu/v1/emulator.grpc.pb.h"
#include "agent/emulator/emulator_service.h"
#include "common/adcs/error_catalog.h"

namespace certbridge::emulator {
namespace {

constexpr char kUsage[] =
    "usage: adcs-emulator officer --emulator HOST:PORT [--identity ID] [--timeout SECONDS] "
    "COMMAND\n"
    "commands:\n"
    "  approve REQUEST_ID          issue a pending (or denied) request (certutil -resubmit)\n"
    "  deny REQUEST_ID             deny a pending request (certutil -deny)\n"
    "  revoke SERIAL [REASON]      revoke (certutil -revoke); REASON is a number 0-6, 8, -1\n"
    "                              or unspecified|keyCompromise|caCompromise|\n"
    "                              affiliationChanged|superseded|cessationOfOperation|\n"
    "                              certificateHold|removeFromCrl|release\n"
    "  publish-crl                 sign a new CRL and print it (PEM)\n"
    "  get-crl                     print the current CRL (PEM)\n"
    "  list                        list requests: id disposition hresult serial template\n"
    "  fault set [--unavailable] [--latency-ms N] [--deny-all] [--die-after-issue]\n"
    "  fault clear\n";

std::optional<int> ParseReason(absl::string_view word) {
  int n = 0;
  if (absl::SimpleAtoi(word, &n)) return n;
  const std::pair<absl::string_view, int> names[] = {
      {"unspecified", 0},          {"keycompromise", 1},   {"cacompromise", 2},
      {"affiliationchanged", 3},   {"superseded", 4},      {"cessationofoperation", 5},
      {"certificatehold", 6},      {"hold", 6},            {"removefromcrl", 8},
      {"release", -1},             {"unrevoke", -1}};
  for (const auto& [name, value] : names) {
    if (absl::EqualsIgnoreCase(word, name)) return value;
  }
  return std::nullopt;
}

int Failed(const grpc::Status& s, const grpc::ClientContext& ctx, std::ostream& err) {
  const auto& trailing = ctx.GetServerTrailingMetadata();
  auto it = trailing.find(kHresultMetadataKey);
  err << "adcs-emulator officer: " << s.error_message() << "\n";
  if (it != trailing.end()) {
    if (auto hr = adcs::ParseHresult(std::string(it->second.data(), it->second.size()))) {
      err << "  " << adcs::Describe(*hr) << "\n";
    }
  }
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                 s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
             ? 3
             : 1;
}

void PrintResponse(const adcsemu::v1::CaResponse& r, std::ostream& out) {
  const adcs::DispositionEntry* d = adcs::FindDisposition(r.disposition());
  out << "request " << r.request_id() << ": disposition " << r.disposition() << " ("
      << (d != nullptr ? d->name : "UNKNOWN") << "), hresult " << adcs::FormatHresult(r.hresult())
      << ", \"" << r.disposition_message() << "\"";
  if (!r.serial_hex().empty()) out << ", serial " << r.serial_hex();
  out << "\n";
}

}  // namespace

int RunOfficerCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string target, identity = "CORP\\CertOfficer";
  int timeout_s = 30;
  size_t i = 0;
  for (; i < args.size() && absl::StartsWith(args[i], "--"); ++i) {
    const std::string& flag = args[i];
    if (i + 1 >= args.size()) {
      err << "adcs-emulator officer: " << flag << " needs a value\n" << kUsage;
      return 2;
    }
    if (flag == "--emulator") {
      target = args[++i];
    } else if (flag == "--identity") {
      identity = args[++i];
    } else if (flag == "--timeout") {
      if (!absl::SimpleAtoi(args[++i], &timeout_s) || timeout_s <= 0) {
        err << "adcs-emulator officer: --timeout wants a positive number of seconds\n";
        return 2;
      }
    } else {
      err << "adcs-emulator officer: unknown flag " << flag << "\n" << kUsage;
      return 2;
    }
  }
  if (target.empty() || i >= args.size()) {
    err << kUsage;
    return 2;
  }
  const std::string command = args[i++];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i), args.end());

  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = adcsemu::v1::Officer::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata(kIdentityMetadataKey, identity);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));

  int64_t request_id = 0;
  if ((command == "approve" || command == "resubmit" || command == "deny")) {
    if (rest.size() != 1 || !absl::SimpleAtoi(rest[0], &request_id)) {
      err << "adcs-emulator officer " << command << ": wants one REQUEST_ID\n";
      return 2;
    }
    adcsemu::v1::RequestIdRequest req;
    req.set_request_id(request_id);
    adcsemu::v1::CaResponse resp;
    grpc::Status s = command == "deny" ? stub->Deny(&ctx, req, &resp)
                                       : stub->Resubmit(&ctx, req, &resp);
    if (!s.ok()) return Failed(s, ctx, err);
    PrintResponse(resp, out);
    return 0;
  }
  if (command == "revoke") {
    if (rest.empty() || rest.size() > 2) {
      err << "adcs-emulator officer revoke: wants SERIAL [REASON]\n";
      return 2;
    }
    adcsemu::v1::RevokeRequest req;
    req.set_serial_hex(rest[0]);
    if (rest.size() == 2) {
      std::optional<int> reason = ParseReason(rest[1]);
      if (!reason) {
        err << "adcs-emulator officer revoke: unknown reason \"" << rest[1] << "\"\n" << kUsage;
        return 2;
      }
      req.set_reason(*reason);
    }
    adcsemu::v1::RevokeResponse resp;
    grpc::Status s = stub->Revoke(&ctx, req, &resp);
    if (!s.ok()) return Failed(s, ctx, err);
    out << "revoked serial " << rest[0] << " (request " << resp.request_id() << ")\n";
    return 0;
  }
  if (command == "publish-crl" || command == "get-crl") {
    adcsemu::v1::CrlResponse resp;
    grpc::Status s = command == "publish-crl"
                         ? stub->PublishCrl(&ctx, adcsemu::v1::PublishCrlRequest(), &resp)
                         : stub->GetCrl(&ctx, adcsemu::v1::GetCrlRequest(), &resp);
    if (!s.ok()) return Failed(s, ctx, err);
    out << resp.crl_pem();
    return 0;
  }
  if (command == "list") {
    adcsemu::v1::ListRequestsResponse resp;
    grpc::Status s = stub->ListRequests(&ctx, adcsemu::v1::ListRequestsRequest(), &resp);
    if (!s.ok()) return Failed(s, ctx, err);
    for (const auto& r : resp.requests()) {
      out << r.request_id() << "\t" << r.disposition() << "\t" << adcs::FormatHresult(r.hresult())
          << "\t" << (r.serial_hex().empty() ? "-" : r.serial_hex()) << "\t"
          << (r.template_cn().empty() ? "-" : r.template_cn()) << "\t"
          << (r.attributes().empty() ? "-" : absl::StrReplaceAll(r.attributes(), {{"\r", ""},
                                                                                {"\n", "; "}}))
          << "\n";
    }
    return 0;
  }
  if (command == "fault") {
    if (rest.empty() || (rest[0] != "set" && rest[0] != "clear")) {
      err << "adcs-emulator officer fault: wants set|clear\n" << kUsage;
      return 2;
    }
    adcsemu::v1::FaultsResponse resp;
    grpc::Status s;
    if (rest[0] == "clear") {
      s = stub->ClearFaults(&ctx, adcsemu::v1::ClearFaultsRequest(), &resp);
    } else {
      adcsemu::v1::SetFaultsRequest req;
      for (size_t j = 1; j < rest.size(); ++j) {
        if (rest[j] == "--unavailable") {
          req.mutable_faults()->set_unavailable(true);
        } else if (rest[j] == "--deny-all") {
          req.mutable_faults()->set_deny_all(true);
        } else if (rest[j] == "--die-after-issue") {
          req.mutable_faults()->set_die_after_issue(true);
        } else if (rest[j] == "--latency-ms" && j + 1 < rest.size()) {
          uint32_t ms = 0;
          if (!absl::SimpleAtoi(rest[++j], &ms)) {
            err << "adcs-emulator officer fault set: --latency-ms wants a number\n";
            return 2;
          }
          req.mutable_faults()->set_latency_ms(ms);
        } else {
          err << "adcs-emulator officer fault set: unknown option " << rest[j] << "\n" << kUsage;
          return 2;
        }
      }
      s = stub->SetFaults(&ctx, req, &resp);
    }
    if (!s.ok()) return Failed(s, ctx, err);
    out << "faults: " << resp.faults().ShortDebugString() << "\n";
    return 0;
  }
  err << "adcs-emulator officer: unknown command \"" << command << "\"\n" << kUsage;
  return 2;
}

}  // namespace certbridge::emulator
