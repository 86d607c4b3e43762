// The SQL of PostgresStore's CertificateStore half and the mappers between its rows and
// parameters and the records of broker/store/certificate_store.h. They move together: a
// statement's column list and the mapper that reads it are tied by column index
// (kRequestColumns <-> RequestFromRow, CB_JOB_COLUMNS <-> JobFromColumns, kJobFirstColumn),
// and a statement's $n numbering and the function that builds its parameters likewise.
// Each statement's parameters and result are described where it is defined
// (certificate_sql.cc). Internal to broker/store/postgres/.
//
// Thread-safety: everything here is immutable once built (the *Statement() functions build
// their statement on first call, thread-safely).
#ifndef CERTBRIDGE_BROKER_STORE_POSTGRES_CERTIFICATE_SQL_H_
#define CERTBRIDGE_BROKER_STORE_POSTGRES_CERTIFICATE_SQL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/store/certificate_store.h"
#include "broker/store/postgres/pg_connection.h"

namespace certbridge::broker {

// A statement whose text is built at run time (from the column lists).
struct OwnedStatement {
  std::string name;
  std::string sql;
  pg::Statement get() const { return {name.c_str(), sql.c_str()}; }
};

// ---- Certificate requests: rows of kRequestColumns, read with RequestFromRow.
const OwnedStatement& CreateRequestStatement();  // parameters: CreateRequestParams
const OwnedStatement& UpdateRequestStatement();  // parameters: UpdateRequestParams
const OwnedStatement& GetRequestStatement();
const OwnedStatement& GetRequestByRequestIdStatement();
const OwnedStatement& GetRequestBySerialStatement();
const OwnedStatement& ListRequestsStatement();
const OwnedStatement& ListOverdueStatement();
const OwnedStatement& ListWaitingByAgeStatement();
const OwnedStatement& ListChangesStatement();
extern const pg::Statement kRequestState;
extern const pg::Statement kFailOpenJobs;

// ---- Tenants' delivery certificates and the change log.
extern const pg::Statement kSetDelivery;
extern const pg::Statement kGetDelivery;
extern const pg::Statement kLatestChangeSeq;
extern const pg::Statement kChangeCursorState;
extern const pg::Statement kDeleteChangesBefore;
extern const pg::Statement kNewestChange;
extern const pg::Statement kTenantsChangedSince;

// ---- Jobs: rows of CB_JOB_COLUMNS, read with JobFromRow.
extern const pg::Statement kInsertJob;  // parameters: JobInsertParams
extern const pg::Statement kJobState;
extern const pg::Statement kCompleteJob;
extern const pg::Statement kExpireLeases;
extern const pg::Statement kListCasWithReadyJobs;
extern const pg::Statement kGetJob;
extern const pg::Statement kExtendLeases;
extern const pg::Statement kListLeasedJobs;
// ClaimJobsStatement runs after kClaimLocks in the same transaction.
extern const pg::Statement kClaimLocks;
// Rows of a request's columns (kRequestColumns, all NULL for ClaimJobsStatement's jobs
// that dispatched nothing), then a job's from kJobFirstColumn on.
const OwnedStatement& ClaimJobsStatement();
const OwnedStatement& GetJobAndRequestStatement();
inline constexpr int kJobFirstColumn = 39;

// ---- Rows to records, records to parameters.
absl::StatusOr<CertificateRequestRecord> RequestFromRow(const pg::Rows& rows, int r);
// The job in the 14 columns from `first_column` on (CB_JOB_COLUMNS).
absl::StatusOr<JobRecord> JobFromColumns(const pg::Rows& rows, int r, int first_column);
absl::StatusOr<JobRecord> JobFromRow(const pg::Rows& rows, int r);
std::vector<pg::Param> JobInsertParams(const JobRecord& job);
std::vector<pg::Param> CreateRequestParams(const CertificateRequestRecord& request,
                                           const JobRecord& job);
std::vector<pg::Param> UpdateRequestParams(const std::string& tenant_id, const std::string& name,
                                           const CertificateRequestRecord& update,
                                           const std::vector<RequestState>& from);
// Every request state, for an update that may start from any.
const std::vector<RequestState>& AllRequestStates();

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_STORE_POSTGRES_CERTIFICATE_SQL_H_
