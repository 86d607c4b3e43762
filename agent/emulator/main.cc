// adcs-emulator: an AD CS stand-in for labs and tests (plaintext gRPC on loopback; the
// caller's identity is taken from metadata). See docs/adcs-emulator.md.
//
//   adcs-emulator [serve] --config FILE --state-dir DIR [--listen ADDR] [--port-file FILE]
//                 [--no-fsync] [--allow-remote]
//   adcs-emulator officer --emulator HOST:PORT [--identity ID] COMMAND ...
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/text_format.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/emulator/emulator_ca.h"
#include "agent/emulator/emulator_service.h"
#include "agent/emulator/officer_cli.h"
#include "agent/emulator/state_store.h"
#include "common/clock.h"
#include "common/log.h"

namespace certbridge::emulator {
namespace {

constexpr char kServeUsage[] =
    "usage: adcs-emulator [serve] --config FILE --state-dir DIR [--listen ADDR]\n"
    "                     [--port-file FILE] [--no-fsync] [--allow-remote]\n"
    "       adcs-emulator officer --emulator HOST:PORT [--identity ID] COMMAND ...\n"
    "  --config FILE      EmulatorConfig in protobuf text format (proto/adcsemu/v1)\n"
    "  --state-dir DIR    CA key/cert, request database, CRL; created if missing\n"
    "  --listen ADDR      default 127.0.0.1:0 (port 0 = pick a free port)\n"
    "  --port-file FILE   written (atomically) with the bound port once serving\n"
    "  --no-fsync         do not fsync each state change (benchmarks only)\n"
    "  --allow-remote     allow a non-loopback --listen (plaintext, no authentication!)\n";

bool IsLoopback(absl::string_view addr) {
  return absl::StartsWith(addr, "127.") || absl::StartsWith(addr, "localhost:") ||
         absl::StartsWith(addr, "[::1]:") || absl::StartsWith(addr, "unix:");
}

int Serve(const std::vector<std::string>& args) {
  std::string config_path, state_dir, listen = "127.0.0.1:0", port_file;
  bool sync = true, allow_remote = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    bool ok = true;
    if (a == "--config") {
      ok = value(&config_path);
    } else if (a == "--state-dir") {
      ok = value(&state_dir);
    } else if (a == "--listen") {
      ok = value(&listen);
    } else if (a == "--port-file") {
      ok = value(&port_file);
    } else if (a == "--no-fsync") {
      sync = false;
    } else if (a == "--allow-remote") {
      allow_remote = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << kServeUsage;
      return 0;
    } else {
      ok = false;
    }
    if (!ok) {
      std::cerr << "adcs-emulator: bad argument \"" << a << "\"\n" << kServeUsage;
      return 2;
    }
  }
  if (config_path.empty() || state_dir.empty()) {
    std::cerr << "adcs-emulator: --config and --state-dir are required\n" << kServeUsage;
    return 2;
  }
  if (!IsLoopback(listen) && !allow_remote) {
    std::cerr << "adcs-emulator: refusing to listen on " << listen
              << ": the emulator trusts any caller's identity; use a loopback address or "
                 "--allow-remote in an isolated lab\n";
    return 2;
  }

  absl::StatusOr<std::string> text = ReadFile(config_path);
  if (!text.ok()) {
    std::cerr << "adcs-emulator: --config: " << text.status().message() << "\n";
    return 2;
  }
  EmulatorCa::Options options;
  if (!google::protobuf::TextFormat::ParseFromString(*text, &options.config)) {
    std::cerr << "adcs-emulator: " << config_path
              << " is not an adcsemu.v1.EmulatorConfig in text format (see the parser "
                 "message above)\n";
    return 2;
  }
  RealClock clock;
  options.state_dir = state_dir;
  options.clock = &clock;
  options.sync_writes = sync;
  options.die = [] { std::_Exit(3); };
  absl::StatusOr<std::unique_ptr<EmulatorCa>> ca = EmulatorCa::Create(std::move(options));
  if (!ca.ok()) {
    std::cerr << "adcs-emulator: " << ca.status().message() << "\n";
    return 1;
  }

  // Block the stop signals in every thread; one thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  CertificateAuthorityService ca_service(ca->get());
  OfficerService officer_service(ca->get());
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&ca_service);
  builder.RegisterService(&officer_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "adcs-emulator: cannot listen on " << listen << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    absl::Status s = WriteFileAtomically(port_file, absl::StrCat(port, "\n"));
    if (!s.ok()) {
      std::cerr << "adcs-emulator: --port-file: " << s.message() << "\n";
      return 1;
    }
  }
  LogInfo("emulator.serving", {{"port", absl::StrCat(port)},
                               {"config", (*ca)->config_string()},
                               {"state_dir", state_dir}});

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    LogInfo("emulator.stopping", {{"signal", absl::StrCat(sig)}});
    // In-flight calls get 2 s; idle client connections otherwise hold a sync server until
    // the deadline.
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  });
  server->Wait();
  waiter.join();
  return 0;
}

}  // namespace
}  // namespace certbridge::emulator

int main(int argc, char** argv) {
  certbridge::SetLogComponent("adcs-emulator");
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "officer") {
    return certbridge::emulator::RunOfficerCli({args.begin() + 1, args.end()}, std::cout,
                                               std::cerr);
  }
  if (!args.empty() && args[0] == "serve") args.erase(args.begin());
  return certbridge::emulator::Serve(args);
}
