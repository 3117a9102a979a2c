#!/usr/bin/env bash
# Renders the app icon (assets/icon.svg) at every size Tauri's bundler wants, into src-tauri/icons/.
# Needs ImageMagick (`convert`), which scripts/install-deps.sh --test installs. The PNGs are
# committed, so building the app does not need this script.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src-tauri/icons
mkdir -p "$out"
render() { convert -background none -density 288 assets/icon.svg -resize "$1x$1" "PNG32:$out/$2"; }
render 32 32x32.png
render 128 128x128.png
render 256 128x128@2x.png
render 512 icon.png
echo "rendered assets/icon.svg into $out/"
