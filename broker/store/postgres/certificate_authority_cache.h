// CertificateAuthorityCache: the certificate authority records PostgresStore has read
// lately, so that the per-certificate reads of the same CA (CreateCertificateRequest's
// check, the waiting reason, the dispatcher's job description) cost no query each
// (issue 9: transactions per certificate).
//
//   CertificateAuthorityCache cache(clock, absl::Seconds(2));
//   if (std::optional<CertificateAuthorityRecord> ca = cache.Find(tenant, id)) return *ca;
//   const uint64_t generation = cache.Generation();   // before the read
//   ... read the record ...
//   cache.Insert(generation, record);                 // ignored if anything was forgotten since
//
// How stale an answer can be: PostgresStore forgets an entry when it writes the CA or its
// assignments itself, and when its listener thread hears another replica's write (NOTIFY
// "A" and "C" records, notify_payload.h; everything when the listener reconnects). So a
// change made elsewhere is seen within a notification's latency, and within `ttl` at the
// most (while the listener is down).
//
// Bounded: at most kMaxEntries records; when full, the cache starts over.
// Thread-safe.
#ifndef CERTBRIDGE_BROKER_STORE_POSTGRES_CERTIFICATE_AUTHORITY_CACHE_H_
#define CERTBRIDGE_BROKER_STORE_POSTGRES_CERTIFICATE_AUTHORITY_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/store/store.h"
#include "common/clock.h"

namespace certbridge::broker {

class CertificateAuthorityCache {
 public:
  static constexpr size_t kMaxEntries = 10000;

  // `clock` is not owned and must outlive this. ttl <= 0: nothing is ever cached.
  CertificateAuthorityCache(const Clock* clock, absl::Duration ttl) : clock_(clock), ttl_(ttl) {}

  // The record, if one was inserted less than ttl ago and not forgotten since.
  std::optional<CertificateAuthorityRecord> Find(const std::string& tenant_id,
                                                 const std::string& ca_id);
  // Take this before reading the record from the database and pass it to Insert: a read
  // that overlapped a Forget* may have seen the state before that change.
  uint64_t Generation();
  // Keeps `ca` for ttl, unless a Forget* happened after `generation` was taken.
  void Insert(uint64_t generation, const CertificateAuthorityRecord& ca);

  void Forget(const std::string& tenant_id, const std::string& ca_id);
  void ForgetTenant(const std::string& tenant_id);
  void ForgetAll();

 private:
  struct Entry {
    CertificateAuthorityRecord record;
    absl::Time expire;
  };

  const Clock* const clock_;
  const absl::Duration ttl_;
  absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  // (tenant_id, ca_id) -> record.
  std::map<std::pair<std::string, std::string>, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_POSTGRES_CERTIFICATE_AUTHORITY_CACHE_H_
