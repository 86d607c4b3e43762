// JobJournal: the append-only log survives a restart, drops a torn tail, takes in the
// per-file entries of an older agent, stays small, and loses nothing to concurrent writers.
#include "agent/jobs/job_journal.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/platform/durable_files.h"
#include "gtest/gtest.h"
#include "tests/agent/support/platform_test_support.h"

namespace certbridge::agent {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::certbridge::v1;

v1::Job MakeJob(int64_t id, size_t csr_bytes = 100) {
  v1::Job job;
  job.set_job_id(id);
  job.set_request_name(absl::StrCat("req-", id));
  job.set_kind(v1::Job::KIND_SUBMIT);
  job.set_csr_pem(std::string(csr_bytes, 'c'));
  return job;
}

v1::JobResult MakeResult(int64_t id) {
  v1::JobResult r;
  r.set_job_id(id);
  r.set_ca_answered(true);
  r.set_disposition(3);
  r.set_ca_request_id(static_cast<int32_t>(id + 1000));
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void AppendToFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

class JobJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test_support::MakeTempDir("job-journal-");
    ASSERT_FALSE(root_.empty());
    dir_ = root_ + "/journal";
    Reopen();
  }
  void TearDown() override {
    journal_.reset();
    fs::remove_all(root_);
  }
  // An agent restart: the journal is read back from disk.
  void Reopen() {
    journal_.reset();
    auto journal = JobJournal::Open(dir_);
    ASSERT_TRUE(journal.ok()) << journal.status();
    journal_ = *std::move(journal);
  }
  std::vector<int64_t> Ids() {
    auto entries = journal_->List();
    EXPECT_TRUE(entries.ok()) << entries.status();
    std::vector<int64_t> ids;
    if (entries.ok()) {
      for (const JournalEntry& e : *entries) ids.push_back(e.job.job_id());
    }
    return ids;
  }

  std::string root_;
  std::string dir_;
  std::unique_ptr<JobJournal> journal_;
};

TEST_F(JobJournalTest, EntriesSurviveARestart) {
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(1)).ok());
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(2)).ok());
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(3)).ok());
  ASSERT_TRUE(journal_->RecordFinished(MakeResult(1)).ok());
  ASSERT_TRUE(journal_->Remove(2).ok());
  Reopen();
  EXPECT_EQ(Ids(), (std::vector<int64_t>{1, 3}));
  auto one = journal_->Get(1);
  ASSERT_TRUE(one.ok() && one->has_value());
  ASSERT_TRUE((*one)->result.has_value());
  EXPECT_EQ((*one)->result->ca_request_id(), 1001);
  EXPECT_EQ((*one)->job.request_name(), "req-1");
  auto three = journal_->Get(3);
  ASSERT_TRUE(three.ok() && three->has_value());
  EXPECT_FALSE((*three)->result.has_value());
  auto two = journal_->Get(2);
  ASSERT_TRUE(two.ok());
  EXPECT_FALSE(two->has_value());
  EXPECT_TRUE(test_support::HasAccess(journal_->LogPath(), FileAccess::kOwnerOnly));
}

TEST_F(JobJournalTest, StartingAgainDropsTheOldResult) {
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(4)).ok());
  ASSERT_TRUE(journal_->RecordFinished(MakeResult(4)).ok());
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(4)).ok());
  auto entry = journal_->Get(4);
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_FALSE((*entry)->result.has_value());
  Reopen();
  entry = journal_->Get(4);
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_FALSE((*entry)->result.has_value());
}

TEST_F(JobJournalTest, InvalidCallsAreRefused) {
  EXPECT_EQ(journal_->RecordStarted(MakeJob(0)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(journal_->RecordFinished(MakeResult(9)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(journal_->Remove(9).ok());
  // Larger than any record Open would read back (16 MiB): refused, not written.
  EXPECT_EQ(journal_->RecordStarted(MakeJob(10, 16u << 20)).code(),
            absl::StatusCode::kInvalidArgument);
  auto entry = journal_->Get(10);
  ASSERT_TRUE(entry.ok());
  EXPECT_FALSE(entry->has_value());
}

TEST_F(JobJournalTest, ATornTailIsDroppedAndTheLogGoesOn) {
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(1)).ok());
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(2)).ok());
  const std::string path = journal_->LogPath();
  journal_.reset();
  const size_t good = ReadFile(path).size();
  // A crash in the middle of an append: a header that promises more than follows.
  AppendToFile(path, std::string("\x40\x00\x00\x00\x01\x02\x03", 7));
  Reopen();
  EXPECT_EQ(Ids(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(ReadFile(path).size(), good);  // rewritten without the partial record
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(3)).ok());
  Reopen();
  EXPECT_EQ(Ids(), (std::vector<int64_t>{1, 2, 3}));
}

TEST_F(JobJournalTest, ARecordThatDoesNotCheckEndsTheLog) {
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(1)).ok());
  const std::string path = journal_->LogPath();
  const size_t first = ReadFile(path).size();
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(2)).ok());
  journal_.reset();
  std::string bytes = ReadFile(path);
  bytes[first + 20] ^= 0x01;  // inside the second record's body: its checksum fails
  ASSERT_TRUE(WriteFileAtomically(path, bytes, FileAccess::kOwnerOnly).ok());
  Reopen();
  EXPECT_EQ(Ids(), (std::vector<int64_t>{1}));
}

TEST_F(JobJournalTest, EntriesOfAnOlderAgentAreTakenIn) {
  journal_.reset();
  // The per-file layout of agents before the log: <id>.job and <id>.result.
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/5.job", MakeJob(5).SerializeAsString(),
                                  FileAccess::kOwnerOnly).ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/5.result", MakeResult(5).SerializeAsString(),
                                  FileAccess::kOwnerOnly).ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/6.job", MakeJob(6).SerializeAsString(),
                                  FileAccess::kOwnerOnly).ok());
  // A result whose job file is gone: the old Remove was cut short, the job acknowledged.
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/7.result", MakeResult(7).SerializeAsString(),
                                  FileAccess::kOwnerOnly).ok());
  Reopen();
  EXPECT_EQ(Ids(), (std::vector<int64_t>{5, 6}));
  auto five = journal_->Get(5);
  ASSERT_TRUE(five.ok() && five->has_value() && (*five)->result.has_value());
  EXPECT_EQ((*five)->result->ca_request_id(), 1005);
  for (const char* name : {"5.job", "5.result", "6.job", "7.result"}) {
    EXPECT_FALSE(PathExists(dir_ + "/" + name)) << name;
  }
  Reopen();  // now from the log alone
  EXPECT_EQ(Ids(), (std::vector<int64_t>{5, 6}));
}

TEST_F(JobJournalTest, TheLogIsCompactedAsEntriesAreAcknowledged) {
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(1)).ok());  // stays live throughout
  for (int64_t id = 2; id < 600; ++id) {
    ASSERT_TRUE(journal_->RecordStarted(MakeJob(id, 2000)).ok());
    ASSERT_TRUE(journal_->RecordFinished(MakeResult(id)).ok());
    ASSERT_TRUE(journal_->Remove(id).ok());
  }
  // ~1.2 MB were appended; compaction keeps the file near its 256 KiB threshold.
  EXPECT_LT(ReadFile(journal_->LogPath()).size(), 300u << 10);
  Reopen();
  EXPECT_EQ(Ids(), (std::vector<int64_t>{1}));
}

TEST_F(JobJournalTest, OpenReplaysEveryFinishedRecordAndEachRewriteCallsBeforeRewriteFirst) {
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(1)).ok());
  ASSERT_TRUE(journal_->RecordFinished(MakeResult(1)).ok());
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(2)).ok());
  ASSERT_TRUE(journal_->RecordFinished(MakeResult(2)).ok());
  ASSERT_TRUE(journal_->Remove(2).ok());  // acknowledged, but its records are still in the log
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(3)).ok());  // not finished: not replayed
  journal_.reset();

  std::vector<std::string> calls;
  JobJournalOptions options;
  options.on_replayed_result = [&calls](const JournalEntry& entry) {
    calls.push_back(absl::StrCat("replayed ", entry.job.request_name(), " ",
                                 entry.result.has_value() ? entry.result->ca_request_id() : 0));
    return absl::OkStatus();
  };
  options.before_rewrite = [&calls] {
    calls.push_back("before_rewrite");
    return absl::OkStatus();
  };
  auto journal = JobJournal::Open(dir_, options);
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_TRUE((*journal)->keeps_results_for_others());
  // Open rewrites the log (dropping job 2's records) only after both were replayed.
  EXPECT_EQ(calls, (std::vector<std::string>{"replayed req-1 1001", "replayed req-2 1002",
                                             "before_rewrite"}));
  journal->reset();

  // The rewrite dropped job 2: its result is not replayed again.
  calls.clear();
  journal = JobJournal::Open(dir_, options);
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(calls, (std::vector<std::string>{"replayed req-1 1001", "before_rewrite"}));
  journal->reset();
  journal_.reset();
  EXPECT_FALSE(JobJournal::Open(dir_)->get()->keeps_results_for_others());
}

TEST_F(JobJournalTest, ABeforeRewriteErrorFailsOpenAndKeepsTheLog) {
  ASSERT_TRUE(journal_->RecordStarted(MakeJob(1)).ok());
  ASSERT_TRUE(journal_->RecordFinished(MakeResult(1)).ok());
  ASSERT_TRUE(journal_->Remove(1).ok());
  journal_.reset();
  const std::string before = ReadFile(dir_ + "/jobs.log");
  JobJournalOptions failing;
  failing.before_rewrite = [] { return absl::InternalError("issued.log: fdatasync: EIO"); };
  auto journal = JobJournal::Open(dir_, failing);
  EXPECT_EQ(journal.status().code(), absl::StatusCode::kInternal) << journal.status();
  // Nothing dropped: job 1's FINISHED record is still there for the next Open.
  EXPECT_EQ(ReadFile(dir_ + "/jobs.log"), before);
  Reopen();
}

TEST_F(JobJournalTest, ConcurrentWritersShareTheLogAndLoseNothing) {
  constexpr int kThreads = 8;
  constexpr int kJobsPerThread = 40;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kJobsPerThread; ++i) {
        const int64_t id = 1 + t * kJobsPerThread + i;
        EXPECT_TRUE(journal_->RecordStarted(MakeJob(id)).ok());
        EXPECT_TRUE(journal_->RecordFinished(MakeResult(id)).ok());
        if (i % 2 == 0) {
          EXPECT_TRUE(journal_->Remove(id).ok());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  Reopen();
  auto entries = journal_->List();
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), static_cast<size_t>(kThreads * kJobsPerThread / 2));
  for (const JournalEntry& e : *entries) {
    ASSERT_TRUE(e.result.has_value()) << e.job.job_id();
    EXPECT_EQ(e.result->ca_request_id(), e.job.job_id() + 1000);
    EXPECT_EQ((e.job.job_id() - 1) % kJobsPerThread % 2, 1) << e.job.job_id();
  }
}

}  // namespace
}  // namespace certbridge::agent
