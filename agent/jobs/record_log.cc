#include "agent/jobs/record_log.h"

#include <algorithm>

namespace certbridge::agent::record_log {
namespace {

uint64_t Fnv1a64(absl::string_view data) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

void PutLittleEndian(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLittleEndian(absl::string_view in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  }
  return v;
}

std::string Frame(uint8_t type, absl::string_view payload) {
  std::string body;
  body.reserve(1 + payload.size());
  body.push_back(static_cast<char>(type));
  body.append(payload.data(), payload.size());
  std::string out;
  out.reserve(kHeaderBytes + body.size());
  PutLittleEndian(out, body.size(), 4);
  PutLittleEndian(out, Fnv1a64(body), 8);
  out += body;
  return out;
}

ParsedLog ParseRecords(absl::string_view log, uint32_t max_body_bytes) {
  ParsedLog parsed;
  absl::string_view rest = log;
  while (rest.size() >= kHeaderBytes) {
    // The length is checked before anything is taken for the body.
    const uint64_t length = GetLittleEndian(rest, 4);
    if (length == 0 || length > max_body_bytes || rest.size() - kHeaderBytes < length) break;
    const absl::string_view body = rest.substr(kHeaderBytes, length);
    if (Fnv1a64(body) != GetLittleEndian(rest.substr(4), 8)) break;
    rest.remove_prefix(kHeaderBytes + length);
    parsed.valid_bytes = log.size() - rest.size();
    parsed.records.push_back(
        {static_cast<uint8_t>(body[0]), body.substr(1), parsed.valid_bytes});
  }
  return parsed;
}

void GroupCommit::AwaitNoSync(absl::Mutex& mu) {
  auto not_syncing = [this] { return !syncing_; };
  mu.Await(absl::Condition(&not_syncing));
}

absl::Status GroupCommit::SyncThrough(absl::Mutex& mu, uint64_t seq,
                                      const std::unique_ptr<AppendOnlyFile>& file,
                                      bool& needs_rewrite,
                                      absl::FunctionRef<absl::Status()> rewrite) {
  while (synced_ < seq) {
    if (syncing_) {
      // The sync under way may not cover `seq` (appended after it began); then the loop
      // starts the next one, covering everything appended by then.
      AwaitNoSync(mu);
      continue;
    }
    if (needs_rewrite) return rewrite();
    syncing_ = true;
    const uint64_t target = appended_;
    AppendOnlyFile* f = file.get();
    mu.Unlock();
    absl::Status s = f->Sync();
    mu.Lock();
    syncing_ = false;
    if (!s.ok()) {
      needs_rewrite = true;
      return s;
    }
    synced_ = std::max(synced_, target);
  }
  return absl::OkStatus();
}

}  // namespace certbridge::agent::record_log
