#!/usr/bin/env bash
# Headless Chromium and its driver for the browser tests (tests/browser), from Debian's packages:
# nothing is downloaded at test time. Skipped when both are already installed; needs root (CI is).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "warning: chromium/chromium-driver missing and not root: the browser tests will be skipped." >&2
  echo "         Install them with: sudo apt-get install -y chromium chromium-driver" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "warning: no apt-get; install Chromium and its matching chromedriver to run the browser tests." >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core
