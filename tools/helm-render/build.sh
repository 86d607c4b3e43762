#!/usr/bin/env bash
# Builds helm-render with Debian's Go and libraries (golang-go,
# golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev): no module downloads.
# Usage: tools/helm-render/build.sh OUTPUT_BINARY
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUTPUT_BINARY}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="${GOCACHE:-/var/tmp/certbridge-gocache}"
cd "$here"
go build -o "$out" main.go
