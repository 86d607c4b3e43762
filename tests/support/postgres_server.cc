#include "tests/support/postgres_server.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace certbridge::testing {
namespace {

// ctest sets CERTBRIDGE_SOURCE_DIR; the configure-time path lets the binary run alone.
std::string PgScript() {
  const char* source_dir = std::getenv("CERTBRIDGE_SOURCE_DIR");
  if (source_dir == nullptr || *source_dir == '\0') source_dir = CERTBRIDGE_DEFAULT_SOURCE_DIR;
  return absl::StrCat(source_dir, "/deploy/local/pg.sh");
}

// Paths here come from mkdtemp and the source tree; quote them for the shell anyway.
std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string RandomSuffix() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device device;
  std::mt19937_64 gen((static_cast<uint64_t>(device()) << 32) ^ device());
  std::uniform_int_distribution<int> pick(0, sizeof(kAlphabet) - 2);
  std::string s;
  for (int i = 0; i < 12; ++i) s += kAlphabet[pick(gen)];
  return s;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// The pid in /proc/<pid>/stat's 4th field (the parent), or -1. A zombie counts as gone.
pid_t ParentOf(pid_t pid, bool* zombie) {
  const std::string stat = ReadAll(absl::StrCat("/proc/", pid, "/stat"));
  // "pid (comm) state ppid ...": comm may hold spaces, so parse after the last ')'.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(paren + 1), ' ', absl::SkipEmpty());
  pid_t ppid = -1;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &ppid)) return -1;
  *zombie = fields[0] == "Z";
  return ppid;
}

bool Alive(pid_t pid) {
  bool zombie = false;
  return ParentOf(pid, &zombie) >= 0 && !zombie;
}

// The postmaster's pid from postmaster.pid, or -1 when no server runs.
pid_t PostmasterPid(const std::string& dir) {
  const std::string content = ReadAll(dir + "/data/postmaster.pid");
  pid_t pid = -1;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(content.substr(0, content.find('\n'))),
                        &pid) ||
      pid <= 0 || !Alive(pid)) {
    return -1;
  }
  return pid;
}

std::string PgBin() {
  const char* bin = std::getenv("CERTBRIDGE_PG_BIN");
  return (bin != nullptr && *bin != '\0') ? bin : "/usr/lib/postgresql/15/bin";
}

}  // namespace

absl::Status PostgresServer::Crash() {
  const pid_t postmaster = PostmasterPid(dir_);
  if (postmaster < 0) {
    return absl::FailedPreconditionError(absl::StrCat("no PostgreSQL server runs in ", dir_));
  }
  std::vector<pid_t> victims = {postmaster};
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    pid_t pid = 0;
    bool zombie = false;
    if (absl::SimpleAtoi(entry.path().filename().string(), &pid) &&
        ParentOf(pid, &zombie) == postmaster) {
      victims.push_back(pid);
    }
  }
  // The postmaster first, so that it cannot start new backends meanwhile.
  for (pid_t pid : victims) kill(pid, SIGKILL);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (pid_t pid : victims) {
    while (Alive(pid)) {
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("PostgreSQL process ", pid, " outlived SIGKILL for 10 s"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::Restart() {
  if (PostmasterPid(dir_) >= 0) {
    return absl::FailedPreconditionError(absl::StrCat("a PostgreSQL server still runs in ", dir_));
  }
  // certbridge.conf in the data directory still names the port pg.sh picked.
  std::string command = absl::StrCat(ShellQuote(PgBin() + "/pg_ctl"), " -D ",
                                     ShellQuote(dir_ + "/data"), " -s -l ",
                                     ShellQuote(dir_ + "/server.log"), " -w -t 60 start");
  if (geteuid() == 0) command = "runuser -u postgres -- " + command;
  if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("pg_ctl start failed; see ", dir_, "/server.log"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  const std::string script = PgScript();
  if (access(script.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(script, " is missing or not executable: set CERTBRIDGE_SOURCE_DIR"));
  }
  const char* tmp = std::getenv("TMPDIR");
  // As root, pg.sh runs the server as user postgres, which must reach the directory.
  std::string base = (tmp != nullptr && *tmp != '\0' && geteuid() != 0) ? tmp : "/tmp";
  std::string templ = base + "/certbridge-pg.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a temporary directory in ", base));
  }
  const std::string dir = templ;
  const std::string command =
      absl::StrCat("CERTBRIDGE_PG_FAST=1 CERTBRIDGE_PG_OWNER_PID=", getpid(), " ",
                   ShellQuote(script), " start ", ShellQuote(dir), " >/dev/null");
  if (std::system(command.c_str()) != 0) {
    if (std::system(absl::StrCat(ShellQuote(script), " destroy ", ShellQuote(dir)).c_str()) != 0) {
      std::fprintf(stderr, "PostgresServer: pg.sh destroy %s failed\n", dir.c_str());
    }
    return absl::InternalError(absl::StrCat("pg.sh start failed (see its output above)"));
  }
  std::ifstream in(dir + "/dsn");
  std::stringstream content;
  content << in.rdbuf();
  std::string dsn(absl::StripAsciiWhitespace(content.str()));
  if (dsn.empty()) return absl::InternalError(absl::StrCat("pg.sh wrote no DSN in ", dir));
  return std::unique_ptr<PostgresServer>(new PostgresServer(dir, dsn));
}

PostgresServer::~PostgresServer() {
  const std::string command =
      absl::StrCat(ShellQuote(PgScript()), " destroy ", ShellQuote(dir_), " >/dev/null 2>&1");
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "PostgresServer: pg.sh destroy %s failed\n", dir_.c_str());
  }
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase() const {
  const std::string name = absl::StrCat("t_", RandomSuffix());
  absl::Status status = Execute(dsn_, absl::StrCat("CREATE DATABASE ", name));
  if (!status.ok()) return status;
  absl::string_view base = dsn_;
  if (!absl::ConsumeSuffix(&base, "/certbridge")) {
    return absl::InternalError("server DSN does not end in /certbridge");
  }
  return absl::StrCat(base, "/", name);
}

absl::Status PostgresServer::Execute(const std::string& dsn, const std::string& sql) {
  PGconn* conn = PQconnectdb(dsn.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("connect: ", message));
  }
  PGresult* result = PQexec(conn, sql.c_str());
  ExecStatusType st = PQresultStatus(result);
  absl::Status status = absl::OkStatus();
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    status = absl::InternalError(absl::StrCat("SQL failed: ", PQerrorMessage(conn)));
  }
  PQclear(result);
  PQfinish(conn);
  return status;
}

}  // namespace certbridge::testing
