#!/usr/bin/env bash
# Debian's chromium for the web page's browser test (playwright cannot download browsers here).
# Without root or apt the browser test skips with its reason instead.
set -uo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null && exit 0
fi
echo "install-browser: chromium not installed; the browser test will skip" >&2
exit 0
