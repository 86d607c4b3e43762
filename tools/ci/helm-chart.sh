#!/usr/bin/env bash
# Checks helm/certbridge without a cluster and without helm (Debian has none):
#  - renders it with tools/helm-render (a Helm-compatible renderer for the subset of Helm the
#    chart uses) for the default values, helm/tests/production-values.yaml and
#    helm/tests/inline-secrets-values.yaml;
#  - compares each rendering with its golden file in helm/tests/;
#  - checks the merged values against values.schema.json and every rendered object against
#    the Kubernetes schemas, refusing unknown fields (tools/k8s-validate);
#  - checks that the checks can fail: an unknown field, a bad value and a chart `fail` are
#    refused.
# Usage: tools/ci/helm-chart.sh [WORK_DIR]     (default: build/helm-chart)
#        CERTBRIDGE_UPDATE_GOLDEN=1 tools/ci/helm-chart.sh   rewrites the golden files
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:-build/helm-chart}"
mkdir -p "$work"
chart=helm/certbridge
start=$(date +%s)
die() { echo "helm-chart: error: $*" >&2; exit 1; }
echo "== Helm chart: render, golden files, Kubernetes schemas (tools/ci/helm-chart.sh)"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed (the machine's Node.js)"
command -v go >/dev/null || die "go is missing: run tools/install-deps.sh"

tools/helm-render/build.sh "$work/helm-render"
render="$work/helm-render"

# npm ci only when the lock file changed since the last install.
validator=tools/k8s-validate
if ! cmp -s "$validator/package-lock.json" "$validator/node_modules/.certbridge-lock" 2>/dev/null; then
  (cd "$validator" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$validator/package-lock.json" "$validator/node_modules/.certbridge-lock"
fi
validate() { node "$validator/validate.mjs" "$@"; }

for case in default production inline-secrets; do
  values=()
  [ "$case" = default ] || values=(-f "helm/tests/$case-values.yaml")
  "$render" -name certbridge -namespace certbridge "${values[@]}" \
    -values-out "$work/$case.values.json" "$chart" >"$work/$case.yaml"
  "$render" -name certbridge -namespace certbridge "${values[@]}" -notes "$chart" >"$work/$case.notes.txt"
  [ -s "$work/$case.notes.txt" ] || die "$case: NOTES.txt rendered empty"
  golden="helm/tests/$case.golden.yaml"
  if [ "${CERTBRIDGE_UPDATE_GOLDEN:-}" = 1 ]; then
    cp "$work/$case.yaml" "$golden"
    echo "helm-chart: wrote $golden"
  elif ! diff -u "$golden" "$work/$case.yaml"; then
    die "$case rendering differs from $golden (if the change is intended: CERTBRIDGE_UPDATE_GOLDEN=1 $0)"
  fi
  validate "$work/$case.yaml" --values "$work/$case.values.json" --schema "$chart/values.schema.json"
done

# The checks must be able to fail.
sed 's/^  revisionHistoryLimit: 5$/  revisionHistoryLimit: 5\n  replica: 3/' "$work/default.yaml" >"$work/unknown-field.yaml"
grep -q '^  replica: 3$' "$work/unknown-field.yaml" || die "self-test: could not plant an unknown field"
if validate "$work/unknown-field.yaml" 2>"$work/unknown-field.err"; then
  die "self-test: an unknown field (spec.replica) passed validation"
fi
grep -q "unknown field spec.replica" "$work/unknown-field.err" || die "self-test: unexpected message: $(cat "$work/unknown-field.err")"

printf 'replicaCount: 0\nservice:\n  agent:\n    type: Ingress\n' >"$work/bad-values.yaml"
"$render" -f "$work/bad-values.yaml" -values-out "$work/bad-values.json" "$chart" >/dev/null
if validate "$work/default.yaml" --values "$work/bad-values.json" --schema "$chart/values.schema.json" 2>/dev/null; then
  die "self-test: values with replicaCount 0 and service type Ingress passed values.schema.json"
fi

printf 'operatorKey:\n  value: too-short\n' >"$work/short-key.yaml"
if "$render" -f "$work/short-key.yaml" "$chart" >/dev/null 2>"$work/short-key.err"; then
  die "self-test: a 9-character operator key rendered"
fi
grep -q "at least 32 characters" "$work/short-key.err" || die "self-test: unexpected message: $(cat "$work/short-key.err")"

echo "helm-chart: ok in $(( $(date +%s) - start ))s"
