#include "broker/scep/postgres_scep_store.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "broker/store/postgres/pg_connection.h"
#include "common/status_macros.h"

namespace certbridge::broker::scep {
namespace {

using pg::Param;
using pg::Rows;
using pg::Statement;
using pg::TimeParam;

#define CB_SCEP_PROFILE_COLUMNS                                                                  \
  "profile_id, tenant_id, display_name, ca_id, template_name, ra_template_name, "               \
  "subject_patterns, san_patterns, allow_rsa, min_rsa_bits, allow_ec, min_ec_bits, "            \
  "challenge_mode, static_challenge_hash, challenge_ttl_seconds, disabled, "                    \
  "extract(epoch from create_time), extract(epoch from update_time), ra_certificate_pem, "      \
  "ra_chain_pem, ra_key_encrypted_pem, extract(epoch from ra_not_after), "                     \
  "ra_pending_request_name, ra_pending_key_encrypted_pem "
#define CB_SCEP_PROFILE_SELECT "SELECT " CB_SCEP_PROFILE_COLUMNS "FROM scep_profile "

#define CB_SCEP_CHALLENGE_COLUMNS                                                                \
  "challenge_hash, tenant_id, profile_id, device_id, subject, subject_alt_names, sid, "         \
  "created_by, extract(epoch from create_time), extract(epoch from expire_time), "              \
  "extract(epoch from consume_time), consumed_by "

constexpr Statement kInsertProfile = {
    "scep_insert_profile",
    "INSERT INTO scep_profile (profile_id, tenant_id, display_name, ca_id, template_name, "
    "ra_template_name, subject_patterns, san_patterns, allow_rsa, min_rsa_bits, allow_ec, "
    "min_ec_bits, challenge_mode, static_challenge_hash, challenge_ttl_seconds, disabled, "
    "create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::boolean, "
    "$10::int, $11::boolean, $12::int, $13, $14, $15::bigint, $16::boolean, $17, $18)"};
constexpr Statement kGetProfile = {
    "scep_get_profile", CB_SCEP_PROFILE_SELECT "WHERE tenant_id = $1 AND profile_id = $2"};
constexpr Statement kGetProfileById = {"scep_get_profile_by_id",
                                       CB_SCEP_PROFILE_SELECT "WHERE profile_id = $1"};
constexpr Statement kListProfiles = {
    "scep_list_profiles", CB_SCEP_PROFILE_SELECT "WHERE tenant_id = $1 ORDER BY profile_id"};
constexpr Statement kListActiveProfiles = {
    "scep_list_active_profiles", CB_SCEP_PROFILE_SELECT "WHERE NOT disabled ORDER BY profile_id"};
constexpr Statement kDisableProfile = {
    "scep_disable_profile",
    "UPDATE scep_profile SET disabled = true, update_time = CASE WHEN disabled THEN update_time "
    "ELSE $3::timestamptz END WHERE tenant_id = $1 AND profile_id = $2 "
    "RETURNING " CB_SCEP_PROFILE_COLUMNS};
constexpr Statement kUpdateRa = {
    "scep_update_ra",
    "UPDATE scep_profile SET ra_certificate_pem = $4, ra_chain_pem = $5, "
    "ra_key_encrypted_pem = $6, ra_not_after = $7, ra_pending_request_name = $8, "
    "ra_pending_key_encrypted_pem = $9, update_time = $10 "
    "WHERE tenant_id = $1 AND profile_id = $2 AND ra_pending_request_name = $3 "
    "RETURNING " CB_SCEP_PROFILE_COLUMNS};
constexpr Statement kResealRaKeys = {
    "scep_reseal_ra_keys",
    "UPDATE scep_profile SET ra_key_encrypted_pem = $5, ra_pending_key_encrypted_pem = $6, "
    "update_time = $7 WHERE tenant_id = $1 AND profile_id = $2 AND ra_key_encrypted_pem = $3 "
    "AND ra_pending_key_encrypted_pem = $4 "
    "RETURNING " CB_SCEP_PROFILE_COLUMNS};
constexpr Statement kInsertChallenge = {
    "scep_insert_challenge",
    "INSERT INTO scep_challenge (challenge_hash, tenant_id, profile_id, device_id, subject, "
    "subject_alt_names, sid, created_by, create_time, expire_time) "
    "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM scep_profile "
    "WHERE profile_id = $3 AND tenant_id = $2"};
constexpr Statement kGetChallenge = {
    "scep_get_challenge", "SELECT " CB_SCEP_CHALLENGE_COLUMNS
                          "FROM scep_challenge WHERE profile_id = $1 AND challenge_hash = $2"};
// One statement: the row lock of the UPDATE makes two consumers of one challenge
// serialise, and the second sees consume_time set.
constexpr Statement kConsumeChallenge = {
    "scep_consume_challenge",
    "UPDATE scep_challenge SET consume_time = coalesce(consume_time, $4::timestamptz), "
    "consumed_by = $3 WHERE profile_id = $1 AND challenge_hash = $2 AND "
    "((consume_time IS NULL AND expire_time > $4::timestamptz) OR consumed_by = $3) "
    "RETURNING " CB_SCEP_CHALLENGE_COLUMNS};
constexpr Statement kDeleteExpiredChallenges = {
    "scep_delete_expired_challenges", "DELETE FROM scep_challenge WHERE expire_time < $1"};

std::string Bool(bool b) { return b ? "true" : "false"; }

std::vector<std::string> Lines(const std::string& text) {
  if (text.empty()) return {};
  return absl::StrSplit(text, '\n');
}

absl::StatusOr<ScepProfileRecord> ProfileFromRow(const Rows& rows, int r) {
  ScepProfileRecord p;
  int c = 0;
  p.profile_id = rows.Text(r, c++);
  p.tenant_id = rows.Text(r, c++);
  p.display_name = rows.Text(r, c++);
  p.ca_id = rows.Text(r, c++);
  p.template_name = rows.Text(r, c++);
  p.ra_template_name = rows.Text(r, c++);
  p.policy.subject_patterns = Lines(rows.Text(r, c++));
  p.policy.san_patterns = Lines(rows.Text(r, c++));
  ASSIGN_OR_RETURN(p.policy.allow_rsa, rows.Bool(r, c++));
  ASSIGN_OR_RETURN(int64_t min_rsa, rows.Int(r, c++));
  p.policy.min_rsa_bits = static_cast<int>(min_rsa);
  ASSIGN_OR_RETURN(p.policy.allow_ec, rows.Bool(r, c++));
  ASSIGN_OR_RETURN(int64_t min_ec, rows.Int(r, c++));
  p.policy.min_ec_bits = static_cast<int>(min_ec);
  std::optional<ScepChallengeMode> mode = ScepChallengeModeFromName(rows.Text(r, c++));
  if (!mode) return absl::InternalError("scep_profile: unknown challenge_mode");
  p.challenge_mode = *mode;
  p.static_challenge_hash = rows.Text(r, c++);
  ASSIGN_OR_RETURN(int64_t ttl, rows.Int(r, c++));
  p.challenge_ttl = absl::Seconds(ttl);
  ASSIGN_OR_RETURN(p.disabled, rows.Bool(r, c++));
  ASSIGN_OR_RETURN(p.create_time, rows.Time(r, c++));
  ASSIGN_OR_RETURN(p.update_time, rows.Time(r, c++));
  p.ra_certificate_pem = rows.Text(r, c++);
  p.ra_chain_pem = rows.Text(r, c++);
  p.ra_key_encrypted_pem = rows.Text(r, c++);
  ASSIGN_OR_RETURN(p.ra_not_after, rows.Time(r, c++));
  p.ra_pending_request_name = rows.Text(r, c++);
  p.ra_pending_key_encrypted_pem = rows.Text(r, c++);
  return p;
}

absl::StatusOr<ScepChallengeRecord> ChallengeFromRow(const Rows& rows, int r) {
  ScepChallengeRecord ch;
  int c = 0;
  ch.challenge_hash = rows.Text(r, c++);
  ch.tenant_id = rows.Text(r, c++);
  ch.profile_id = rows.Text(r, c++);
  ch.device_id = rows.Text(r, c++);
  ch.subject = rows.Text(r, c++);
  ch.subject_alt_names = Lines(rows.Text(r, c++));
  ch.sid = rows.Text(r, c++);
  ch.created_by = rows.Text(r, c++);
  ASSIGN_OR_RETURN(ch.create_time, rows.Time(r, c++));
  ASSIGN_OR_RETURN(ch.expire_time, rows.Time(r, c++));
  ASSIGN_OR_RETURN(ch.consume_time, rows.OptionalTime(r, c++));
  ch.consumed_by = rows.Text(r, c++);
  return ch;
}

absl::StatusOr<std::vector<ScepProfileRecord>> AllProfiles(const Rows& rows) {
  std::vector<ScepProfileRecord> out;
  for (int r = 0; r < rows.size(); ++r) {
    ASSIGN_OR_RETURN(ScepProfileRecord p, ProfileFromRow(rows, r));
    out.push_back(std::move(p));
  }
  return out;
}

absl::Status ProfileNotFound(const std::string& profile_id) {
  return absl::NotFoundError(absl::StrCat("SCEP profile \"", profile_id, "\" not found"));
}

}  // namespace

// A borrowed connection; gives it back (or drops it, if broken) when destroyed.
class PostgresScepStore::Lease {
 public:
  Lease(PostgresScepStore* store, std::unique_ptr<pg::Connection> conn)
      : store_(store), conn_(std::move(conn)) {}
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (store_ != nullptr && conn_ != nullptr) store_->Release(std::move(conn_));
  }
  pg::Connection* operator->() { return conn_.get(); }
  pg::Connection& operator*() { return *conn_; }

 private:
  PostgresScepStore* store_;
  std::unique_ptr<pg::Connection> conn_;
};

PostgresScepStore::PostgresScepStore(PostgresScepStoreOptions options)
    : options_(std::move(options)) {}

PostgresScepStore::~PostgresScepStore() = default;

absl::StatusOr<std::unique_ptr<PostgresScepStore>> PostgresScepStore::Create(
    const PostgresScepStoreOptions& options) {
  if (options.dsn.empty() || options.pool_size < 1) {
    return absl::InvalidArgumentError("PostgresScepStore: a dsn and pool_size >= 1 are required");
  }
  std::unique_ptr<PostgresScepStore> store(new PostgresScepStore(options));
  ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> first,
                   pg::Connection::Open(options.dsn, options.connect_timeout));
  absl::MutexLock lock(&store->mu_);
  store->idle_.push_back(std::move(first));
  store->open_ = 1;
  return store;
}

absl::StatusOr<PostgresScepStore::Lease> PostgresScepStore::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.pool_size;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), options_.acquire_timeout)) {
      return absl::UnavailableError("SCEP store: no database connection free");
    }
    while (!idle_.empty()) {
      std::unique_ptr<pg::Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->StillOpenWhileIdle()) return Lease(this, std::move(conn));
      --open_;  // the server ended it while idle: drop it
    }
    ++open_;  // a slot for a new connection, opened outside the lock
  }
  absl::StatusOr<std::unique_ptr<pg::Connection>> conn =
      pg::Connection::Open(options_.dsn, options_.connect_timeout);
  if (!conn.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return conn.status();
  }
  return Lease(this, *std::move(conn));
}

void PostgresScepStore::Release(std::unique_ptr<pg::Connection> conn) {
  absl::MutexLock lock(&mu_);
  if (conn->healthy() && !conn->in_transaction()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
}

absl::Status PostgresScepStore::CreateScepProfile(const ScepProfileRecord& p) {
  if (p.profile_id.empty() || p.tenant_id.empty()) {
    return absl::InvalidArgumentError("SCEP profile: profile_id and tenant_id are required");
  }
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  absl::Status status =
      conn->Exec(kInsertProfile,
                 {p.profile_id, p.tenant_id, p.display_name, p.ca_id, p.template_name,
                  p.ra_template_name, absl::StrJoin(p.policy.subject_patterns, "\n"),
                  absl::StrJoin(p.policy.san_patterns, "\n"), Bool(p.policy.allow_rsa),
                  absl::StrCat(p.policy.min_rsa_bits), Bool(p.policy.allow_ec),
                  absl::StrCat(p.policy.min_ec_bits),
                  std::string(ScepChallengeModeName(p.challenge_mode)), p.static_challenge_hash,
                  absl::StrCat(absl::ToInt64Seconds(p.challenge_ttl)), Bool(p.disabled),
                  TimeParam(p.create_time), TimeParam(p.update_time)})
          .status();
  if (absl::IsAlreadyExists(status)) {
    return absl::AlreadyExistsError(absl::StrCat("SCEP profile \"", p.profile_id, "\" already exists"));
  }
  if (absl::IsNotFound(status)) {
    return absl::NotFoundError(absl::StrCat("tenant \"", p.tenant_id, "\" not found"));
  }
  return status;
}

absl::StatusOr<ScepProfileRecord> PostgresScepStore::GetScepProfile(const std::string& tenant_id,
                                                                    const std::string& profile_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kGetProfile, {tenant_id, profile_id}));
  if (rows.size() == 0) return ProfileNotFound(profile_id);
  return ProfileFromRow(rows, 0);
}

absl::StatusOr<ScepProfileRecord> PostgresScepStore::GetScepProfileById(const std::string& profile_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kGetProfileById, {profile_id}));
  if (rows.size() == 0) return ProfileNotFound(profile_id);
  return ProfileFromRow(rows, 0);
}

absl::StatusOr<std::vector<ScepProfileRecord>> PostgresScepStore::ListScepProfiles(
    const std::string& tenant_id) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kListProfiles, {tenant_id}));
  return AllProfiles(rows);
}

absl::StatusOr<std::vector<ScepProfileRecord>> PostgresScepStore::ListActiveScepProfiles() {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kListActiveProfiles, {}));
  return AllProfiles(rows);
}

absl::StatusOr<ScepProfileRecord> PostgresScepStore::DisableScepProfile(
    const std::string& tenant_id, const std::string& profile_id, absl::Time now) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kDisableProfile, {tenant_id, profile_id, TimeParam(now)}));
  if (rows.size() == 0) return ProfileNotFound(profile_id);
  return ProfileFromRow(rows, 0);
}

absl::StatusOr<ScepProfileRecord> PostgresScepStore::UpdateScepRa(
    const std::string& tenant_id, const std::string& profile_id,
    const std::string& expected_pending_request_name, const ScepProfileRecord& ra,
    absl::Time now) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows,
                   conn->Exec(kUpdateRa, {tenant_id, profile_id, expected_pending_request_name,
                                          ra.ra_certificate_pem, ra.ra_chain_pem,
                                          ra.ra_key_encrypted_pem, TimeParam(ra.ra_not_after),
                                          ra.ra_pending_request_name,
                                          ra.ra_pending_key_encrypted_pem, TimeParam(now)}));
  if (rows.size() == 1) return ProfileFromRow(rows, 0);
  ASSIGN_OR_RETURN(Rows exists, conn->Exec(kGetProfile, {tenant_id, profile_id}));
  if (exists.size() == 0) return ProfileNotFound(profile_id);
  return absl::AbortedError(
      absl::StrCat("SCEP profile \"", profile_id, "\": the RA certificate changed meanwhile"));
}

absl::StatusOr<ScepProfileRecord> PostgresScepStore::ResealScepRaKeys(
    const std::string& tenant_id, const std::string& profile_id, const ScepSealedRaKeys& expected,
    const ScepSealedRaKeys& resealed, absl::Time now) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kResealRaKeys, {tenant_id, profile_id, expected.key,
                                                         expected.pending_key, resealed.key,
                                                         resealed.pending_key, TimeParam(now)}));
  if (rows.size() == 1) return ProfileFromRow(rows, 0);
  ASSIGN_OR_RETURN(Rows exists, conn->Exec(kGetProfile, {tenant_id, profile_id}));
  if (exists.size() == 0) return ProfileNotFound(profile_id);
  return absl::AbortedError(
      absl::StrCat("SCEP profile \"", profile_id, "\": the RA key changed meanwhile"));
}

absl::Status PostgresScepStore::CreateScepChallenge(const ScepChallengeRecord& c) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  absl::StatusOr<Rows> rows =
      conn->Exec(kInsertChallenge,
                 {c.challenge_hash, c.tenant_id, c.profile_id, c.device_id, c.subject,
                  absl::StrJoin(c.subject_alt_names, "\n"), c.sid, c.created_by,
                  TimeParam(c.create_time), TimeParam(c.expire_time)});
  if (absl::IsAlreadyExists(rows.status())) {
    return absl::AlreadyExistsError("SCEP challenge already exists");
  }
  if (!rows.ok()) return rows.status();
  if (rows->affected() == 0) return ProfileNotFound(c.profile_id);
  return absl::OkStatus();
}

absl::StatusOr<ScepChallengeRecord> PostgresScepStore::GetScepChallenge(
    const std::string& profile_id, const std::string& challenge_hash) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kGetChallenge, {profile_id, challenge_hash}));
  if (rows.size() == 0) return absl::NotFoundError("SCEP challenge not found");
  return ChallengeFromRow(rows, 0);
}

absl::StatusOr<ScepChallengeRecord> PostgresScepStore::ConsumeScepChallenge(
    const std::string& profile_id, const std::string& challenge_hash, const std::string& consumer,
    absl::Time now) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kConsumeChallenge,
                                         {profile_id, challenge_hash, consumer, TimeParam(now)}));
  if (rows.size() == 1) return ChallengeFromRow(rows, 0);
  ASSIGN_OR_RETURN(Rows existing, conn->Exec(kGetChallenge, {profile_id, challenge_hash}));
  if (existing.size() == 0) return absl::NotFoundError("SCEP challenge not found");
  ASSIGN_OR_RETURN(ScepChallengeRecord c, ChallengeFromRow(existing, 0));
  if (c.consume_time.has_value()) return absl::FailedPreconditionError("SCEP challenge already used");
  return absl::FailedPreconditionError("SCEP challenge expired");
}

absl::StatusOr<int> PostgresScepStore::DeleteExpiredScepChallenges(absl::Time before) {
  ASSIGN_OR_RETURN(Lease conn, Acquire());
  ASSIGN_OR_RETURN(Rows rows, conn->Exec(kDeleteExpiredChallenges, {TimeParam(before)}));
  return static_cast<int>(rows.affected());
}

}  // namespace certbridge::broker::scep
