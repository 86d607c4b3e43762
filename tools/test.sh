#!/usr/bin/env bash
# Builds everything and runs every test: unit, contract (real PostgreSQL), integration
# (real broker, agent, emulator and certbridgectl processes), the Windows (mingw-w64)
# build of the agent with its unit tests under Wine, and clang's thread-safety analysis of
# the lock annotations.
# Usage: tools/test.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
echo "== buf lint and buf breaking of the protos against the previous commit"
tools/check-protos.sh
# Relative paths (BASEDIR) and no working directory in the hash (NOHASHDIR, which -g would
# otherwise add) let a clone at another path reuse the ccache entries of an earlier build.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
build=${CERTBRIDGE_BUILD:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" -j2

echo "== Windows build of the agent (mingw-w64); ctest runs its unit tests under Wine"
tools/windows/build-agent.sh "$build/windows"

echo "== clang -Wthread-safety over our sources"
tools/check-thread-safety.sh "$build"

tools/ci/monitoring.sh   # alert rules (promtool test rules) and the Grafana dashboard
tools/ci/helm-chart.sh "$build/helm-chart"
tools/ci/container-image.sh "$build"
tools/ci/kube-deploy.sh "$build"

echo "== ctest"
ctest --test-dir "$build" --output-on-failure --timeout 900 "$@"
tools/sanitize.sh  # ASan+UBSan unit tests (build-asan), TSan broker service tests (build-tsan)
tools/fuzz.sh      # libFuzzer targets of tests/fuzz with clang (build-fuzz), 20 s each
