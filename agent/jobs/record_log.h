// The record framing of the agent's append-only logs (the job journal, jobs.log; the
// issued-serial log, issued.log): one home for the format and for the torn-tail rule.
//
//   record = [u32 body length][u64 FNV-1a of the body][body = type byte, payload]
//            (little-endian)
//
// A crash in the middle of an append leaves a last record that does not check (too short,
// a length over the log's bound, or a checksum that does not match). ParseRecords stops at
// the first such record: it and whatever follows are the tail a writer drops (and rewrites
// the log without) before it appends again.
#ifndef CERTBRIDGE_AGENT_JOBS_RECORD_LOG_H_
#define CERTBRIDGE_AGENT_JOBS_RECORD_LOG_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace certbridge::agent::record_log {

// [u32 body length][u64 FNV-1a of the body].
inline constexpr size_t kHeaderBytes = 12;

// Little-endian fixed-width integers (`bytes` of 1..8).
void PutLittleEndian(std::string& out, uint64_t v, int bytes);
// REQUIRES: in.size() >= bytes.
uint64_t GetLittleEndian(absl::string_view in, int bytes);

// One framed record: header, type byte, payload. REQUIRES: 1 + payload.size() fits the
// reader's max_body_bytes (writers check it first, or the record reads back as a torn tail).
std::string Frame(uint8_t type, absl::string_view payload);

struct Record {
  uint8_t type;
  absl::string_view payload;  // points into the parsed log
  size_t end;                 // offset just past this record in the log
};

// The records of `log` from its start up to the first that does not check (body of 0
// bytes or over `max_body_bytes`, cut short, or checksum mismatch). Records past
// `valid_bytes` (== the last record's end, or 0) are the torn tail.
struct ParsedLog {
  std::vector<Record> records;
  size_t valid_bytes = 0;
};
ParsedLog ParseRecords(absl::string_view log, uint32_t max_body_bytes);

}  // namespace certbridge::agent::record_log

#endif  // CERTBRIDGE_AGENT_JOBS_RECORD_LOG_H_
