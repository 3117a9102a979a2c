#!/usr/bin/env bash
# Installs what building, running and testing OneVision Desk needs on Debian/Ubuntu, skipping
# whatever is already there, and says what it does. Used by `make run` and by CI (.ci/run).
#   scripts/install-deps.sh [--test]    (--test adds Xvfb, WebKitWebDriver and tauri-driver)
set -euo pipefail

packages=(
  # Rust crates with C parts, and Tauri's webview (WebKitGTK 4.1) with its GTK stack.
  build-essential pkg-config curl file libssl-dev
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  librsvg2-dev libayatana-appindicator3-dev libxdo-dev
  # Screen-region capture (xcap): X11 and PipeWire.
  libpipewire-0.3-dev libspa-0.2-dev libclang-dev libgbm-dev libxcb1-dev
)
if [ "${1:-}" = "--test" ]; then
  # Driving the real window in tests: a virtual display, WebKit's WebDriver, and ImageMagick's
  # `import` for screenshots of the display; `rpm` and desktop-file-validate check the packages
  # (tests/package/run.sh).
  packages+=(xvfb xauth webkit2gtk-driver imagemagick x11-utils rpm desktop-file-utils)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "Node.js and npm are needed to build the window's interface; install them (Node 20 or newer)." >&2
  exit 1
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

if [ "${1:-}" = "--test" ] && ! command -v tauri-driver >/dev/null; then
  echo "Installing tauri-driver (WebDriver bridge for the end-to-end test)"
  cargo install tauri-driver --locked --quiet
fi
