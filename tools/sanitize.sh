#!/usr/bin/env bash
# The test suite again under sanitizers, each in a build directory of its own (the main
# build/ is never touched):
#   asan  build-asan: gcc -fsanitize=address,undefined at -O1; by default builds and runs
#         the unit tests of the parsers (with their fuzz corpora), the broker's service
#         logic, API gate and gRPC services (the list in run_asan). CERTBRIDGE_ASAN_ALL=1
#         builds every target and runs every unit test; with CERTBRIDGE_SANITIZE_LABELS=
#         "unit|integration" also the integration tests, whose broker, agent and emulator
#         processes are instrumented too. Any ASan, LSan or UBSan report, in a test or in a
#         child process, fails the run.
#   tsan  build-tsan: gcc -fsanitize=thread; builds only the broker service tests and runs
#         them, with tools/sanitizers/tsan_absl_sync.cc preloaded (Debian's abseil is not
#         instrumented) and tools/sanitizers/tsan.supp for gRPC's and abseil's internals.
# Usage: tools/sanitize.sh [asan|tsan]...   (default: asan tsan)
# Env: CERTBRIDGE_ASAN_BUILD, CERTBRIDGE_TSAN_BUILD (directories), CERTBRIDGE_SANITIZE_LABELS
#      (ctest -L regex for the asan run; default "unit").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true  # reuse entries across clone paths (tools/test.sh)
supp="$root/tools/sanitizers"
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(asan tsan)

# Prints every sanitizer report left in $1 and fails if there is one. Reports go to files
# (log_path) so that those of child processes (the integration tests' broker and agent) are
# seen even when the test that started them only notices a non-zero exit, or not at all.
check_reports() {
  local dir=$1 found=0 f
  for f in "$dir"/*; do
    [ -e "$f" ] || continue
    found=1
    echo "---- $f"
    cat "$f"
  done
  if [ $found -ne 0 ]; then
    echo "sanitize: sanitizer reports above (files in $dir)" >&2
    return 1
  fi
}

run_asan() {
  local build=${CERTBRIDGE_ASAN_BUILD:-build-asan}
  local labels=${CERTBRIDGE_SANITIZE_LABELS:-unit}
  echo "== ASan+UBSan build ($build)"
  # Debug keeps assert(); -O1 keeps the suite fast enough.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DCERTBRIDGE_SANITIZE=address,undefined >/dev/null
  # By default the test command runs the part of the unit suite that handles untrusted
  # input and stream lifetimes: the parsers (and their fuzz corpora), the broker's service
  # logic, its API gate and its gRPC services. A second build of everything does not fit the
  # CI time limit beside the Windows, container, chaos and fuzz steps on two cores;
  # CERTBRIDGE_ASAN_ALL=1 builds everything and runs every test with the labels.
  local targets=(broker_service_test certificate_api_test job_outcome_test api_gate_test
                 certificate_grpc_service_test adcs_catalog_test pki_crl_sid_test pki_test
                 csr_fuzz certificate_fuzz subject_fuzz subject_alt_names_fuzz
                 request_attributes_fuzz sid_fuzz serial_number_fuzz)
  local only=()
  if [ "${CERTBRIDGE_ASAN_ALL:-0}" = 1 ]; then
    ninja -C "$build" -j2
  else
    ninja -C "$build" -j2 "${targets[@]}"
    local names
    names=$(printf '%s|' "${targets[@]}")
    only=(-R "^(${names%|})(_corpus)?\$")
  fi
  local logs="$root/$build/sanitizer-reports"
  rm -rf "$logs" && mkdir -p "$logs"
  echo "== ctest -L '$labels' ${only[*]} under ASan+UBSan"
  local rc=0
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$logs/asan" \
  LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan" \
    ctest --test-dir "$build" -L "$labels" "${only[@]}" --output-on-failure --timeout 900 || rc=$?
  check_reports "$logs" || rc=1
  return $rc
}

run_tsan() {
  local build=${CERTBRIDGE_TSAN_BUILD:-build-tsan}
  # The broker service tests, and the pieces whose correctness is a race: the waiting call
  # and the SCEP waiters (pending_call_test, request_change_waiters_test), the dispatcher's
  # remembered wake-ups (job_dispatcher_test) and the agent's group commit
  # (record_log::GroupCommit, used by the job journal and the issued-serial log:
  # agent_job_journal_test, agent_policy_test).
  local targets=(broker_service_test certificate_api_test certificate_grpc_service_test job_outcome_test
                 pending_call_test request_change_waiters_test job_dispatcher_test
                 agent_job_journal_test agent_policy_test)
  echo "== TSan build ($build: ${targets[*]})"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DCERTBRIDGE_SANITIZE=thread >/dev/null
  ninja -C "$build" -j2 "${targets[@]}"
  # Debian's abseil is not instrumented: without this stand-in TSan sees no absl::Mutex.
  local sync="$root/$build/libtsan_absl_sync.so"
  g++ -std=c++17 -shared -fPIC -O1 -g -Wall -Wextra -Werror -o "$sync" "$supp/tsan_absl_sync.cc" -ldl
  local logs="$root/$build/sanitizer-reports"
  rm -rf "$logs" && mkdir -p "$logs"
  echo "== ${targets[*]} under TSan"
  local rc=0 t
  for t in "${targets[@]}"; do
    LD_PRELOAD="$sync" \
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp:log_path=$logs/tsan" \
      "$build/bin/$t" --gtest_brief=1 || { echo "sanitize: $t failed under TSan" >&2; rc=1; }
  done
  check_reports "$logs" || rc=1
  return $rc
}

rc=0
for s in "${steps[@]}"; do
  case $s in
    asan) run_asan || rc=1 ;;
    tsan) run_tsan || rc=1 ;;
    *) echo "usage: tools/sanitize.sh [asan|tsan]..." >&2; exit 2 ;;
  esac
done
exit $rc
