// Small status macros: Abseil 20220623 (Debian 12) ships none.
//
//   absl::Status Save(const Row& row) {
//     RETURN_IF_ERROR(Validate(row));
//     ASSIGN_OR_RETURN(Connection conn, pool.Acquire());
//     ...
//   }
#ifndef CERTBRIDGE_COMMON_STATUS_MACROS_H_
#define CERTBRIDGE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CB_STATUS_CONCAT_INNER(a, b) a##b
#define CB_STATUS_CONCAT(a, b) CB_STATUS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status cb_status_ = (expr);          \
    if (!cb_status_.ok()) return cb_status_;     \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  CB_ASSIGN_OR_RETURN_IMPL(CB_STATUS_CONCAT(cb_statusor_, __LINE__), lhs, expr)

#define CB_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                             \
  if (!statusor.ok()) return statusor.status();       \
  lhs = std::move(statusor).value()

#endif  // CERTBRIDGE_COMMON_STATUS_MACROS_H_
