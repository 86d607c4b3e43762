#include "tools/bench/agents.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "certbridge/v1/admin.grpc.pb.h"
#include "tools/bench/flags.h"

namespace certbridge::bench {

using testing::BrokerProcess;
using testing::CallContext;
using testing::EmulatorProcessHandle;
using testing::RegisteredAgent;
using testing::TestStack;

absl::Status StartAgents(TestStack& stack, const BrokerProcess& broker, const Tenant& tenant,
                         const EmulatorProcessHandle& emulator,
                         std::vector<std::unique_ptr<testing::ChildProcess>>& agents) {
  auto admin = stack.AdminStub(broker);
  for (int i = 0; i < absl::GetFlag(FLAGS_agents); ++i) {
    absl::StatusOr<RegisteredAgent> agent = stack.RegisterAgent(broker, tenant.key, kIdentity);
    if (!agent.ok()) return agent.status();
    v1::AssignCertificateAuthorityRequest assign;
    assign.set_ca_id(tenant.ca_id);
    assign.set_connector_id(agent->connector_id);
    v1::Connector connector;
    grpc::Status s =
        admin->AssignCertificateAuthority(CallContext(tenant.key).get(), assign, &connector);
    if (!s.ok()) return absl::InternalError("assign CA: " + s.error_message());
    absl::StatusOr<std::unique_ptr<testing::ChildProcess>> process = stack.StartAgent(
        *agent, emulator,
        {absl::StrCat("--max-concurrent-jobs=", absl::GetFlag(FLAGS_agent_window)),
         "--backoff-base-ms=100", "--backoff-max-ms=500"});
    if (!process.ok()) return process.status();
    if (absl::Status c = WaitConnected(stack, broker, tenant, agent->connector_id); !c.ok()) {
      return absl::Status(c.code(), absl::StrCat(c.message(), "\n", (*process)->Log()));
    }
    agents.push_back(*std::move(process));
  }
  return absl::OkStatus();
}

}  // namespace certbridge::bench
