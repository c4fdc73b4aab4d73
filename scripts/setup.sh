#!/usr/bin/env bash
# Installs what the demo and the tests need, and only what is missing, so it is
# cheap to run every time: the wasm32 target, the wasm-bindgen CLI of exactly
# the crate's version, wasm-pack, Debian's Chromium, ChromeDriver, Redis, Firefox ESR, WebKitGTK's
# WebDriver and Xvfb, and the npm dependencies (which bring wasm-opt, Playwright's driver, puppeteer-core
# and tsup; no browser is downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_PACK_VERSION=0.15.1
# The CLI must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)

step() { echo "setup: $*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    step "adding $component"
    rustup component add "$component"
  fi
done

if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: the CLI's own lockfile pins a crate the registry no longer has.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
if ! wasm-pack --version 2>/dev/null | grep -qx "wasm-pack $WASM_PACK_VERSION"; then
  step "installing wasm-pack $WASM_PACK_VERSION"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked --force
fi

# redis-server: the server's Redis tests start their own on a loopback port. Firefox ESR (driven by
# puppeteer-core over WebDriver BiDi) and WebKitGTK (WebKitWebDriver and its MiniBrowser, under Xvfb)
# are the browser suites' other two engines.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/redis-server ] ||
  [ ! -x /usr/bin/firefox-esr ] || [ ! -x /usr/bin/WebKitWebDriver ] || [ ! -x /usr/bin/Xvfb ]; then
  step "installing Debian's chromium, chromium-driver, redis-server, firefox-esr, webkit2gtk-driver and xvfb"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y chromium chromium-driver redis-server firefox-esr
  apt-get install -y --no-install-recommends webkit2gtk-driver xvfb
fi

# npm ci only when the lockfile changed since the last install.
if ! cmp -s package-lock.json node_modules/.setup-lock-stamp; then
  step "installing npm dependencies"
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.setup-lock-stamp
fi
