#!/usr/bin/env bash
# Renders the app icon (assets/icon.svg) at every size Tauri's bundler wants, into src-tauri/icons/.
# Needs ImageMagick (`convert`), which scripts/install-deps.sh --test installs. The PNGs are
# committed, so building the app does not need this script.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src-tauri/icons
mkdir -p "$out"
render() { convert -background none -density 288 assets/icon.svg -resize "$1x$1" -define png:exclude-chunk=date,time "PNG32:$out/$2"; }
# The sizes a Linux desktop looks for in the hicolor theme (the bundler files each PNG under its
# pixel size); icon.png is the 512 px master.
for size in 32 48 64 128 256; do render "$size" "${size}x${size}.png"; done
render 512 icon.png
echo "rendered assets/icon.svg into $out/"
