#!/usr/bin/env bash
# Checks the alert rules, their unit tests and the Prometheus and Alertmanager configs with the
# real tools (STYLE habit 11). Installs Debian's prometheus when promtool is missing; the same
# install gives test/ops/live-prometheus.test.ts its `prometheus` binary.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  missing+=(prometheus)
fi
# amtool (Debian's prometheus-alertmanager) validates alertmanager/alertmanager.yml: optional
# locally, installed in CI.
if ! command -v amtool >/dev/null 2>&1 && [ "${CI:-}" = "true" ]; then
  missing+=(prometheus-alertmanager)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "ci-promtool: installing Debian's ${missing[*]}"
  apt_install "${missing[@]}"
fi
promtool --version 2>&1 | sed -n 1p

if [ -d node_modules/yaml ]; then
  echo "== alerts.yml and the dashboards up to date with thresholds.yml"
  npx --no-install ts-node --transpile-only prometheus/generate-alerts.ts --check
  npx --no-install ts-node --transpile-only grafana/generate-dashboards.ts --check
fi
echo "== promtool check rules"
promtool check rules prometheus/alerts.yml
echo "== promtool test rules"
promtool test rules prometheus/tests/*.yml
echo "== promtool check config"
promtool check config prometheus/prometheus.yml
if command -v amtool >/dev/null 2>&1; then
  echo "== amtool check-config"
  amtool check-config alertmanager/alertmanager.yml
else
  echo "== amtool not installed: skipping alertmanager/alertmanager.yml (apt-get install prometheus-alertmanager)"
fi
echo "ci-promtool: OK"
