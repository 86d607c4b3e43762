#!/usr/bin/env bash
# Checks deploy/monitoring/ without a running broker (the live scrape is the ctest
# metrics_test, which also runs `promtool check metrics` on the broker's output):
#  - promtool check rules and promtool test rules on the alert rules;
#  - the Grafana dashboard is JSON, every panel has a query, and every certbridge_* name
#    in the dashboard and the rules is a series the broker exports;
#  - docs/monitoring.md lists every series the broker exports.
# "Exports" is read from the one place that registers them,
# broker/metrics/prometheus/prometheus_broker_metrics.cc (histograms add _bucket, _sum,
# _count). A check that can fail is checked to fail: a made-up name is refused.
# Usage: tools/ci/monitoring.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
die() { echo "monitoring: error: $*" >&2; exit 1; }
echo "== Monitoring: alert rules, their tests, Grafana dashboard (tools/ci/monitoring.sh)"
command -v promtool >/dev/null || die "promtool is missing (Debian package prometheus): run tools/install-deps.sh"
command -v jq >/dev/null || die "jq is missing: run tools/install-deps.sh"

dir=deploy/monitoring
dashboard=$dir/grafana-dashboard.json
source_file=broker/metrics/prometheus/prometheus_broker_metrics.cc

promtool check rules "$dir/alerts.yaml" >/dev/null || die "promtool check rules failed"
(cd "$dir" && promtool test rules alerts_test.yaml) >/dev/null || {
  (cd "$dir" && promtool test rules alerts_test.yaml) >&2 || true
  die "promtool test rules failed"
}

# The exported names: each .Name("certbridge_...") in the source; a histogram's name (the
# Name after BuildHistogram()) also gives its three series.
exported=$(awk '
  /BuildHistogram\(\)/ { histogram = 1 }
  /BuildCounter\(\)|BuildGauge\(\)/ { histogram = 0 }
  match($0, /\.Name\("certbridge_[a-z0-9_]+"\)/) {
    name = substr($0, RSTART + 7, RLENGTH - 9)
    print name
    if (histogram) { print name "_bucket"; print name "_sum"; print name "_count" }
  }' "$source_file" | sort -u)
[ "$(echo "$exported" | grep -c .)" -ge 15 ] || die "found too few series in $source_file: $exported"

# Names used by a file's queries (certbridge_ followed by name characters).
used_names() { grep -oE 'certbridge_[a-z0-9_]+' | sort -u; }
check_names() {  # $1: what, stdin: names used
  local unknown
  unknown=$(comm -23 - <(echo "$exported"))
  [ -z "$unknown" ] || { echo "monitoring: $1 uses series the broker does not export:" >&2; echo "$unknown" >&2; return 1; }
}

jq -e '.panels | length > 0' "$dashboard" >/dev/null || die "$dashboard is not JSON with panels"
jq -e '[.panels[] | (.targets // []) | length > 0] | all' "$dashboard" >/dev/null ||
  die "$dashboard has a panel without a query"
jq -r '.panels[].targets[].expr' "$dashboard" | used_names | check_names "$dashboard" || die "dashboard check failed"
grep -E '^\s+expr:|^\s{12,}[^ ]' "$dir/alerts.yaml" | grep -v 'runbook:' | used_names |
  check_names "$dir/alerts.yaml" || die "alert rules check failed"

# The check refuses a made-up name (so it can fail).
if echo "certbridge_no_such_series_total" | check_names "self-test" 2>/dev/null; then
  die "the name check accepted a made-up series"
fi

# The docs list every exported family.
for name in $(echo "$exported" | grep -vE '_(bucket|sum|count)$'); do
  grep -q "\`$name\`" docs/monitoring.md || die "docs/monitoring.md does not list $name"
done
echo "monitoring: ok ($(echo "$exported" | grep -vcE '_(bucket|sum|count)$') series families, $(jq '.panels | length' "$dashboard") dashboard panels, $(grep -c '^\s*- alert:' "$dir/alerts.yaml") alerts)"
