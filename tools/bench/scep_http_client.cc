#include "tools/bench/scep_http_client.h"

#include <curl/curl.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/base/call_once.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/pki/scep_message.h"

namespace certbridge::bench {
namespace {

struct Body {
  std::string data;
  bool too_large = false;
};

// libcurl's write callback: a CertRep larger than the broker may send is cut off rather than
// buffered (returning less than given makes libcurl fail the transfer).
size_t AppendBounded(char* data, size_t size, size_t count, void* user) {
  Body* body = static_cast<Body*>(user);
  const size_t n = size * count;
  if (body->data.size() + n > pki::kMaxScepMessageBytes) {
    body->too_large = true;
    return 0;
  }
  body->data.append(data, n);
  return n;
}

struct CurlCleanup {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistCleanup {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

void InitScepHttpClient() {
  static absl::once_flag once;
  absl::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::StatusOr<std::string> PostPkiOperation(const std::string& url, absl::string_view message,
                                             absl::Duration timeout) {
  InitScepHttpClient();
  std::unique_ptr<CURL, CurlCleanup> curl(curl_easy_init());
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::unique_ptr<curl_slist, SlistCleanup> headers(
      curl_slist_append(nullptr, "Content-Type: application/x-pki-message"));
  const std::string target = absl::StrCat(url, "?operation=PKIOperation");
  Body body;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, target.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // several threads; no SIGALRM for timeouts
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, message.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(message.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBounded);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  const CURLcode result = curl_easy_perform(c);
  if (body.too_large) {
    return absl::ResourceExhaustedError(
        absl::StrCat("POST ", target, ": answer over ", pki::kMaxScepMessageBytes, " bytes"));
  }
  if (result != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("POST ", target, ": ", curl_easy_strerror(result)));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    return absl::InternalError(absl::StrCat("POST ", target, ": HTTP ", status));
  }
  return std::move(body.data);
}

}  // namespace certbridge::bench
