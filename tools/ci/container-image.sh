#!/usr/bin/env bash
# Builds the certbridge images with podman from the binaries in BUILD_DIR and smoke-tests
# them (deploy/container/build-image.sh says how). Fails with a clear message where podman
# cannot run containers.
# Usage: tools/ci/container-image.sh [BUILD_DIR]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "== container images: build and smoke-test with podman (tools/ci/container-image.sh)"
exec deploy/container/build-image.sh "${1:-build}"
