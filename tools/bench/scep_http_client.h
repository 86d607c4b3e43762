// The device's side of SCEP's HTTP transport for certbridge-bench: one PKIOperation POSTed
// to a broker's /scep/<profile>/pkiclient.exe (RFC 8894 section 4.3), through libcurl.
//
// libcurl rather than the curl command line the SCEP tests drive (tests/broker/scep): the
// same HTTP client, without a fork and exec per enrollment, which on a small machine would
// be a large part of what the SCEP figure measures.
#ifndef CERTBRIDGE_TOOLS_BENCH_SCEP_HTTP_CLIENT_H_
#define CERTBRIDGE_TOOLS_BENCH_SCEP_HTTP_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace certbridge::bench {

// Initialises libcurl once for the process; call before the first PostPkiOperation (libcurl
// 7.88 initialises thread-safely, but once is enough). Idempotent.
void InitScepHttpClient();

// POSTs `message` (a DER pkiMessage) as application/x-pki-message to
// `url`?operation=PKIOperation on a connection of its own, as a device does, and returns
// the body of a 200 answer (a DER CertRep). UNAVAILABLE when the connection or transfer
// failed or took longer than `timeout`; INTERNAL for another HTTP status (named in the
// message); RESOURCE_EXHAUSTED for a body over pki::kMaxScepMessageBytes. Thread-safe.
absl::StatusOr<std::string> PostPkiOperation(const std::string& url, absl::string_view message,
                                             absl::Duration timeout);

}  // namespace certbridge::bench

#endif  // CERTBRIDGE_TOOLS_BENCH_SCEP_HTTP_CLIENT_H_
