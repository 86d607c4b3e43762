#include "broker/store/postgres/certificate_authority_cache.h"

namespace certbridge::broker {

std::optional<CertificateAuthorityRecord> CertificateAuthorityCache::Find(
    const std::string& tenant_id, const std::string& ca_id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find({tenant_id, ca_id});
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expire > clock_->Now()) return it->second.record;
  entries_.erase(it);
  return std::nullopt;
}

uint64_t CertificateAuthorityCache::Generation() {
  absl::MutexLock lock(&mu_);
  return generation_;
}

void CertificateAuthorityCache::Insert(uint64_t generation,
                                       const CertificateAuthorityRecord& ca) {
  if (ttl_ <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  if (generation != generation_) return;
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_[{ca.tenant_id, ca.ca_id}] = Entry{ca, clock_->Now() + ttl_};
}

void CertificateAuthorityCache::Forget(const std::string& tenant_id, const std::string& ca_id) {
  absl::MutexLock lock(&mu_);
  ++generation_;
  entries_.erase({tenant_id, ca_id});
}

void CertificateAuthorityCache::ForgetTenant(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  ++generation_;
  for (auto it = entries_.lower_bound({tenant_id, ""});
       it != entries_.end() && it->first.first == tenant_id;) {
    it = entries_.erase(it);
  }
}

void CertificateAuthorityCache::ForgetAll() {
  absl::MutexLock lock(&mu_);
  ++generation_;
  entries_.clear();
}

}  // namespace certbridge::broker
