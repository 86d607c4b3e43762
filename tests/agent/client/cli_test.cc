// Runs the certbridge-agent binary: flags, exit codes, and a real register + run + SIGTERM
// against the fake broker.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/client/state_dir.h"
#include "common/pki/pki.h"
#include "gtest/gtest.h"
#include "tests/agent/client/fake_agent_service.h"

namespace certbridge::agent {
namespace {

namespace fs = std::filesystem;
using testing::FakeAgentService;
using testing::FakeBroker;
using testing::Observed;
using testing::TestPki;

std::string AgentBinary() { return CERTBRIDGE_AGENT_BINARY; }

struct Child {
  pid_t pid = -1;
  std::string out_path;
  std::string err_path;
};

// Starts the agent with stdout/stderr going to files in `dir`, and standard input from
// `stdin_path` when given.
Child Spawn(const std::vector<std::string>& args, const std::string& dir, const std::string& tag,
            const std::string& stdin_path = "") {
  Child c;
  c.out_path = absl::StrCat(dir, "/", tag, ".out");
  c.err_path = absl::StrCat(dir, "/", tag, ".err");
  std::string binary = AgentBinary();
  std::vector<char*> argv;
  argv.push_back(binary.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  c.pid = fork();
  if (c.pid == 0) {
    int out = open(c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(c.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    if (!stdin_path.empty()) dup2(open(stdin_path.c_str(), O_RDONLY), 0);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return c;
}

// Exit code, or -1 if the child did not exit within `timeout` (it is then killed).
int WaitExit(const Child& c, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (absl::Now() > deadline) {
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &status, 0);
      return -1;
    }
    absl::SleepFor(absl::Milliseconds(10));  // polling a child's exit; nothing to wait on
  }
}

std::string Slurp(const std::string& path) {
  absl::StatusOr<std::string> s = ReadWholeFile(path);
  return s.ok() ? *s : "";
}

class AgentCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "agent-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    broker_.reset();
    fs::remove_all(root_);
  }
  void StartBroker() {
    absl::StatusOr<std::unique_ptr<TestPki>> pki = TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::move(*pki);
    service_ = std::make_unique<FakeAgentService>(*pki_);
    broker_ = FakeBroker::Start(*service_, *pki_);
    ASSERT_NE(broker_, nullptr);
    ASSERT_TRUE(WriteFileAtomically(root_ + "/broker-ca.pem", pki_->broker_ca_pem(),
                                    FileAccess::kReadableByAll).ok());
  }
  int RunToEnd(const std::vector<std::string>& args, std::string* out = nullptr,
               std::string* err = nullptr, const std::string& stdin_path = "") {
    Child c = Spawn(args, root_, absl::StrCat("cmd", ++commands_), stdin_path);
    int code = WaitExit(c, absl::Seconds(60));
    if (out) *out = Slurp(c.out_path);
    if (err) *err = Slurp(c.err_path);
    return code;
  }

  std::string root_;
  int commands_ = 0;
  std::unique_ptr<TestPki> pki_;
  std::unique_ptr<FakeAgentService> service_;
  std::unique_ptr<FakeBroker> broker_;
};

TEST_F(AgentCliTest, UnknownFlagIsUsageErrorWithExitTwo) {
  std::string err;
  EXPECT_EQ(RunToEnd({"run", "--state-dir", root_, "--bogus"}, nullptr, &err), 2);
  EXPECT_NE(err.find("unknown flag --bogus"), std::string::npos) << err;
  EXPECT_NE(err.find("Usage: certbridge-agent run"), std::string::npos) << err;
}

TEST_F(AgentCliTest, MaxConcurrentJobsMustBeOneToSixtyFour) {
  std::string err;
  EXPECT_EQ(RunToEnd({"run", "--state-dir", root_, "--max-concurrent-jobs", "0"}, nullptr, &err), 2);
  EXPECT_NE(err.find("--max-concurrent-jobs must be a number from 1 to 64"), std::string::npos)
      << err;
  EXPECT_EQ(RunToEnd({"run", "--state-dir", root_, "--max-concurrent-jobs", "x"}), 2);
}

TEST_F(AgentCliTest, NoCommandOrUnknownCommandIsExitTwo) {
  EXPECT_EQ(RunToEnd({}), 2);
  EXPECT_EQ(RunToEnd({"frobnicate"}), 2);
}

TEST_F(AgentCliTest, HelpPerSubcommand) {
  std::string out;
  EXPECT_EQ(RunToEnd({"register", "--help"}, &out), 0);
  EXPECT_NE(out.find("--broker-ca PATH"), std::string::npos) << out;
  EXPECT_NE(out.find("--force"), std::string::npos) << out;
  EXPECT_EQ(RunToEnd({"run", "--help"}, &out), 0);
  EXPECT_NE(out.find("--renew-fraction"), std::string::npos) << out;
  EXPECT_NE(out.find("--ca-emulator HOST:PORT"), std::string::npos) << out;
  EXPECT_NE(out.find("--max-concurrent-jobs N"), std::string::npos) << out;
  EXPECT_EQ(RunToEnd({"status", "--help"}, &out), 0);
  EXPECT_NE(out.find("--state-dir"), std::string::npos) << out;
}

TEST_F(AgentCliTest, RegisterRequiresBrokerTokenAndCa) {
  std::string err;
  EXPECT_EQ(RunToEnd({"register", "--state-dir", root_ + "/s", "--token", "t"}, nullptr, &err),
            2);
  EXPECT_NE(err.find("--broker is required"), std::string::npos) << err;
}

// The token on the command line shows in the process list while the agent waits for
// approval: it can come from a file or standard input instead.
TEST_F(AgentCliTest, EnrollmentTokenComesFromAFileOrStandardInput) {
  StartBroker();
  const std::string token_file = root_ + "/token";
  ASSERT_TRUE(WriteFileAtomically(token_file, "good-token\n", FileAccess::kOwnerOnly).ok());
  std::string out, err;
  ASSERT_EQ(RunToEnd({"register", "--broker", broker_->address(), "--broker-ca",
                      root_ + "/broker-ca.pem", "--token-file", token_file, "--state-dir",
                      root_ + "/from-file", "--host", "adcs01"},
                     &out, &err),
            0)
      << out << err;
  ASSERT_EQ(RunToEnd({"register", "--broker", broker_->address(), "--broker-ca",
                      root_ + "/broker-ca.pem", "--token-file", "-", "--state-dir",
                      root_ + "/from-stdin", "--host", "adcs02"},
                     &out, &err, token_file),
            0)
      << out << err;
  const Observed observed = service_->observed();
  ASSERT_EQ(observed.register_requests.size(), 2u);
  EXPECT_EQ(observed.register_requests[0].enrollment_token(), "good-token");
  EXPECT_EQ(observed.register_requests[1].enrollment_token(), "good-token");

  ASSERT_TRUE(WriteFileAtomically(root_ + "/empty", "\n", FileAccess::kOwnerOnly).ok());
  EXPECT_EQ(RunToEnd({"register", "--broker", broker_->address(), "--broker-ca",
                      root_ + "/broker-ca.pem", "--token-file", root_ + "/empty", "--state-dir",
                      root_ + "/empty-token"},
                     nullptr, &err),
            1);
  EXPECT_NE(err.find("holds no enrollment token"), std::string::npos) << err;
  EXPECT_EQ(RunToEnd({"register", "--broker", broker_->address(), "--broker-ca",
                      root_ + "/broker-ca.pem", "--token-file", token_file, "--token", "x",
                      "--state-dir", root_ + "/both"},
                     nullptr, &err),
            2);
  EXPECT_NE(err.find("not both"), std::string::npos) << err;
  EXPECT_EQ(service_->observed().register_requests.size(), 2u);
}

TEST_F(AgentCliTest, StatusWithoutRegistrationFails) {
  std::string err;
  EXPECT_EQ(RunToEnd({"status", "--state-dir", root_ + "/none"}, nullptr, &err), 1);
  EXPECT_NE(err.find("no registration"), std::string::npos) << err;
}

TEST_F(AgentCliTest, RegisterStatusRunAndSigtermEndToEnd) {
  StartBroker();
  std::string state = root_ + "/state";
  std::string out, err;
  ASSERT_EQ(RunToEnd({"register", "--broker", broker_->address(), "--broker-ca",
                      root_ + "/broker-ca.pem", "--token", "good-token", "--state-dir", state,
                      "--host", "adcs01", "--ca-identity", "CORP\\ADCS01$"},
                     &out, &err),
            0)
      << out << err;
  EXPECT_NE(out.find("Registration code:  K7QX-M2PD"), std::string::npos) << out;
  EXPECT_NE(out.find("certbridge-agent run --state-dir"), std::string::npos) << out;
  // Logs never carry the code or the token.
  EXPECT_EQ(err.find("K7QX-M2PD"), std::string::npos) << err;
  EXPECT_EQ(err.find("good-token"), std::string::npos) << err;

  // A second register without --force is refused before the token is spent.
  EXPECT_EQ(RunToEnd({"register", "--broker", broker_->address(), "--broker-ca",
                      root_ + "/broker-ca.pem", "--token", "good-token", "--state-dir", state},
                     &out, &err),
            1);
  EXPECT_NE(err.find("--force"), std::string::npos) << err;
  EXPECT_EQ(service_->observed().register_requests.size(), 1u);

  ASSERT_EQ(RunToEnd({"status", "--state-dir", state}, &out, &err), 0) << err;
  EXPECT_NE(out.find("connector:     c-1"), std::string::npos) << out;
  EXPECT_NE(out.find("CORP\\ADCS01$"), std::string::npos) << out;

  Child run = Spawn({"run", "--state-dir", state}, root_, "run");
  ASSERT_TRUE(service_->WaitFor([](const Observed& o) { return o.heartbeats >= 1; },
                                absl::Seconds(20)))
      << Slurp(run.err_path);
  absl::Time start = absl::Now();
  kill(run.pid, SIGTERM);
  EXPECT_EQ(WaitExit(run, absl::Seconds(2)), 0) << Slurp(run.err_path);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  std::string logs = Slurp(run.err_path);
  EXPECT_NE(logs.find("\"event\":\"agent.connected\""), std::string::npos) << logs;
  EXPECT_NE(logs.find("\"event\":\"agent.stopped\""), std::string::npos) << logs;
  EXPECT_EQ(logs.find("PRIVATE KEY"), std::string::npos) << logs;
}

TEST_F(AgentCliTest, RunWithExpiredCertificateExitsThreeAndSaysHowToReRegister) {
  StartBroker();
  std::string state = root_ + "/state";
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  absl::Time now = absl::Now();
  absl::StatusOr<std::string> chain = pki_->IssueAgentChain(
      *pki::CreateCsrPem(*key, {.subject = "CN=adcs01", .sans = {}}), now - absl::Hours(3),
      now - absl::Hours(1));
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_TRUE(StateDir(state)
                  .Save({.broker_address = broker_->address(), .tenant_id = "t-1",
                         .connector_id = "c-1", .host = "adcs01", .ca_identity = "ADCS01$",
                         .proxy = ""},
                        {.key_pem = key->ToPem(), .chain_pem = *chain,
                         .broker_ca_pem = pki_->broker_ca_pem()},
                        false)
                  .ok());
  std::string err;
  EXPECT_EQ(RunToEnd({"run", "--state-dir", state}, nullptr, &err), 3);
  EXPECT_NE(err.find("expired on"), std::string::npos) << err;
  EXPECT_NE(err.find("register --force --token"), std::string::npos) << err;
  EXPECT_EQ(service_->observed().connections, 0);
  std::string out;
  EXPECT_EQ(RunToEnd({"status", "--state-dir", state}, &out), 3);
  EXPECT_NE(out.find("EXPIRED"), std::string::npos) << out;
}

}  // namespace
}  // namespace certbridge::agent
