#!/usr/bin/env bash
# Generates the Python stubs the example imports: certbridge.v1 from proto/ and
# google.rpc.Status/ErrorInfo/BadRequest/RetryInfo from Debian's
# golang-github-gogo-googleapis-dev. Needs protoc and grpc_python_plugin
# (protobuf-compiler, protobuf-compiler-grpc). Usage: generate_stubs.sh [OUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/gen}
googleapis=/usr/share/gocode/src/github.com/gogo/googleapis
mkdir -p "$out"
protoc -I "$here/../../proto" -I "$googleapis" \
  --python_out="$out" --grpc_out="$out" \
  --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
  certbridge/v1/certificate.proto google/rpc/status.proto google/rpc/error_details.proto
