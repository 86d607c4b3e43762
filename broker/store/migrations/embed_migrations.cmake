# Writes a C++ source holding every migrations/NNNN_name.sql, in version order, so that
# the broker never looks for SQL files at run time.
#   cmake -DMIGRATIONS_DIR=... -DOUTPUT=... -P embed_migrations.cmake
file(GLOB sql_files "${MIGRATIONS_DIR}/[0-9][0-9][0-9][0-9]_*.sql")
list(SORT sql_files)
set(body "")
set(expected 1)
foreach(f ${sql_files})
  get_filename_component(name "${f}" NAME_WE)
  string(SUBSTRING "${name}" 0 4 version_text)
  math(EXPR version "${version_text}")
  if(NOT version EQUAL expected)
    message(FATAL_ERROR "migration ${name}: expected version ${expected}; versions must be 1, 2, 3, ... without gaps")
  endif()
  math(EXPR expected "${expected} + 1")
  file(READ "${f}" sql)
  string(FIND "${sql}" ")certbridge_sql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "migration ${name} contains the raw string delimiter")
  endif()
  string(APPEND body "      {${version}, \"${name}\", R\"certbridge_sql(${sql})certbridge_sql\"},\n")
endforeach()
set(content "// Generated from broker/store/migrations/*.sql by embed_migrations.cmake. Do not edit.
#include \"broker/store/postgres/migrations.h\"

namespace certbridge::broker {

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration>* const kMigrations = new std::vector<Migration>{
${body}  };
  return *kMigrations;
}

}  // namespace certbridge::broker
")
file(WRITE "${OUTPUT}" "${content}")
