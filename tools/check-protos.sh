#!/usr/bin/env bash
# buf lint (buf.yaml: STANDARD minus the justified exceptions) and buf breaking of the
# protos against the previous commit, so certbridge.v1 stays wire- and source-compatible
# (docs/api-stability.md). buf comes from npm (tools/buf, installed by tools/install-deps.sh).
#
# The baseline is HEAD~1, or $CERTBRIDGE_BUF_AGAINST (any git ref, e.g. a pull request's
# merge base: CERTBRIDGE_BUF_AGAINST=$(git merge-base origin/main HEAD)). A baseline that
# predates buf.yaml is from before v1 was frozen: nothing to compare.
# Usage: tools/check-protos.sh
set -euo pipefail
cd "$(dirname "$0")/.."

buf=tools/buf/node_modules/.bin/buf
if [ ! -x "$buf" ]; then
  echo "check-protos: $buf missing: run tools/install-deps.sh" >&2
  exit 1
fi

"$buf" lint
echo "check-protos: buf lint passed"

against=${CERTBRIDGE_BUF_AGAINST:-HEAD~1}
if ! git rev-parse --verify --quiet "$against^{commit}" >/dev/null; then
  if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
    echo "check-protos: $against is not in this shallow clone, so buf breaking has no" \
         "baseline: fetch one more commit (git fetch --deepen=1) or set" \
         "CERTBRIDGE_BUF_AGAINST to a commit that is present" >&2
    exit 1
  fi
  if [ -z "${CERTBRIDGE_BUF_AGAINST:-}" ] && ! git rev-parse --verify --quiet HEAD~1 >/dev/null \
     && git rev-parse --verify --quiet HEAD >/dev/null; then
    echo "check-protos: HEAD is the first commit: no baseline, buf breaking skipped"
    exit 0
  fi
  echo "check-protos: baseline $against is not a commit: set CERTBRIDGE_BUF_AGAINST to a" \
       "git ref" >&2
  exit 1
fi
if ! git cat-file -e "$against:buf.yaml" 2>/dev/null; then
  echo "check-protos: baseline $against predates buf.yaml (v1 not yet frozen): buf breaking skipped"
  exit 0
fi
"$buf" breaking --against ".git#ref=$(git rev-parse "$against")"
echo "check-protos: buf breaking against $against passed"
