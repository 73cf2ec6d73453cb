#!/bin/sh
# Headless Chromium for the browser test (tests/browser): Debian's package, never a browser build
# downloaded by a tool (`playwright install` is not used). Idempotent: nothing to do when it is there.
# Without it the browser test skips locally and fails in CI (LAYER_LAB_REQUIRE_ENGINE=1 or CI=true).
set -u
CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: $CHROMIUM is missing; installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
if [ -x "$CHROMIUM" ]; then
    echo "install_browser: $("$CHROMIUM" --version 2>/dev/null)"
else
    echo "install_browser: $CHROMIUM is missing, so the browser test (tests/browser) will skip, or fail in CI." >&2
    echo "install_browser: install Debian's package as root: apt-get update && apt-get install -y chromium" >&2
fi
exit 0
