// The SCEP run of certbridge-bench (docs/benchmarks.md, "SCEP enrollments"): devices enroll
// through the broker's SCEP listener, the agents and the emulator, as an MDM and its devices
// would, and the rate is set against the raw emulator rate of the same run.
//
// Setup (not timed): a SCEP profile in dynamic-challenge mode bound to the tenant's CA and
// the CertbridgeDevice template, its RA certificate issued by the emulator through the agents
// (the broker asks for it on its --scep_ra_renewal_interval tick); meanwhile the devices'
// RSA-2048 keys (ScepOptions::distinct_keys) and a self-signed signer certificate per
// device (RSA: the CertRep is enveloped to the device's key by RSA key transport).
//
// Each timed enrollment is what the MDM and then the device do: CreateScepChallenge bound to
// the device's subject (ScepService, the MDM's call), a PKCS#10 carrying the challenge,
// the PKCSReq pkiMessage (common/pki/scep_message.h) POSTed to pkiclient.exe over HTTP, and
// the CertRep read: SUCCESS, the transactionID echoed, the certificate enveloped to the
// device, chaining to the emulator's CA, for the device's key, with a serial no other
// enrollment of the run got. Anything else counts as a failed enrollment (PENDING included:
// the broker answers PENDING after --scep_enrollment_wait, 5 s).
#ifndef CERTBRIDGE_TOOLS_BENCH_SCEP_RUN_H_
#define CERTBRIDGE_TOOLS_BENCH_SCEP_RUN_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/integration/test_stack.h"
#include "tools/bench/certificate_client.h"
#include "tools/bench/certificate_cost.h"
#include "tools/bench/load.h"

namespace certbridge::bench {

// The broker flags that give it a SCEP listener on a free port: --scep_listen, and
// --scep_ra_secret_file naming a new file (mode 0600) in the stack's directory holding a
// random secret (never on a command line); --scep_ra_renewal_interval=1s so that a new
// profile's RA certificate is asked for and installed within seconds. INTERNAL when the
// file cannot be written.
absl::StatusOr<std::vector<std::string>> ScepBrokerFlags(const testing::TestStack& stack);

struct ScepOptions {
  int requests = 100;              // timed enrollments at `concurrency` callers
  int concurrency = 8;
  int single_caller_requests = 10;  // timed enrollments by one caller; 0 skips
  int warmup = 8;                   // unmeasured enrollments before the timed ones
  // RSA-2048 keys the devices share round robin; 0: a fresh key for every enrollment.
  // Generating one takes ~0.2 s of CPU, so a key each adds ~10 s to a 100-enrollment run on
  // two cores; the broker's work per enrollment does not depend on it (each enrollment
  // still has its own subject, signer certificate, challenge and transaction).
  int distinct_keys = 8;
};

struct ScepFigures {
  // Whole enrollments (challenge, CSR, PKIOperation, CertRep read); `failures` counts
  // enrollments that did not end in a checked certificate.
  LoadResult enrollments;
  LoadResult single;
  // The PKIOperation POST alone (HTTP request to CertRep received) of the timed enrollments
  // at `concurrency` callers: what the broker, agents and CA add.
  std::vector<absl::Duration> post_latencies;
  int made = 0;               // enrollments made: warm-up, timed and one-caller
  int failed = 0;             // of those, enrollments without a checked certificate
  int duplicate_serials = 0;  // a serial issued to two enrollments of the run
  absl::Duration ra_wait;     // CreateScepProfile to the RA certificate installed
  int distinct_keys = 0;      // device keys the enrollments used
  // Database and CPU per timed enrollment at `concurrency` callers (certificate_cost.h;
  // its two snapshots add 2 x kStatsSettle to the run). The bench's CPU includes the
  // devices' RSA work (CSR, pkiMessage, CertRep) and the MDM's challenge call.
  bool cost_measured = false;
  CostPerCertificate cost;
  std::vector<std::string> first_errors;  // at most a few
};

// Creates the profile in `tenant` (whose CA the running agents serve) and measures.
// `broker` must have been started with ScepBrokerFlags; `emulator` is the CA; `processes`
// are the stack's, for the cost per enrollment. Errors: the setup's (profile, RA
// certificate within 60 s, keys) and the cost snapshots'; enrollment failures are counted
// in `figures`, not returned.
absl::Status MeasureScep(testing::TestStack& stack, const testing::BrokerProcess& broker,
                         const testing::EmulatorProcessHandle& emulator, const Tenant& tenant,
                         const CostProcesses& processes, const ScepOptions& options,
                         ScepFigures& figures);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_SCEP_RUN_H_
