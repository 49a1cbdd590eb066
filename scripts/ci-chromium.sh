#!/usr/bin/env bash
# Installs Debian's chromium when it is missing: test/console.browser.test.ts drives it through
# puppeteer-core (no browser download from npm). CHROMIUM_BIN overrides the path.
set -euo pipefail

if [ -n "${CHROMIUM_BIN:-}" ] && [ -x "${CHROMIUM_BIN}" ]; then exit 0; fi
if command -v chromium >/dev/null 2>&1; then
  chromium --version 2>/dev/null | sed -n 1p || true
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "ci-chromium: installing Debian's chromium"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
chromium --version 2>/dev/null | sed -n 1p || true
