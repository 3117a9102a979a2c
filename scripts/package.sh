#!/usr/bin/env bash
# Builds OneVision Desk's Linux packages, a .deb and an .rpm, with Tauri's bundler: the app with its
# desktop entry and icons, and the `onevision` command; name, version and description come from the
# workspace (Cargo.toml, src-tauri/tauri.conf.json, packaging/tauri.bundle.json).
#   scripts/package.sh            the release build, CPU only (what `make package` ships)
#   scripts/package.sh --debug    bundles the debug build `cargo test --workspace` already made, so
#                                 the package test compiles nothing (tests/package/run.sh)
# PACKAGE_FEATURES (for example "--features onevision-desk/cuda,onevision-cli/cuda") is passed to
# the release build.
# Writes target/<profile>/bundle/deb/onevision-desk_<version>_amd64.deb and
# target/<profile>/bundle/rpm/onevision-desk-<version>-1.x86_64.rpm, and prints their paths.
# packaging/tauri.bundle.json is merged over tauri.conf.json for bundling only (the app itself is
# compiled as "OneVision Desk"): its lower-case product name is the Debian and RPM package name, the
# .desktop file's name and /usr/share/doc/onevision-desk; the desktop-entry template there puts the
# readable name back.
# AppImage is left out: its bundler downloads tools while building, and builds here are offline.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

profile=release
case "${1:-}" in
  "") ;;
  --debug) profile=debug ;;
  *) echo "usage: scripts/package.sh [--debug]" >&2; exit 2 ;;
esac

if [ "$profile" = release ]; then
  make --no-print-directory ui-build
  # shellcheck disable=SC2086  # PACKAGE_FEATURES is a list of cargo arguments
  cargo build --release --locked -p onevision-desk -p onevision-cli ${PACKAGE_FEATURES:-}
fi
for bin in onevision-desk onevision; do
  if [ ! -x "target/$profile/$bin" ]; then
    echo "target/$profile/$bin is missing: build it first (cargo test --workspace --no-run)" >&2
    exit 1
  fi
done

# Tauri's command-line tool, pinned in packaging/package-lock.json (a prebuilt binary from npm).
if [ ! -x packaging/node_modules/.bin/tauri ] || [ packaging/package-lock.json -nt packaging/node_modules/.package-lock.json ]; then
  (cd packaging && npm ci --no-audit --no-fund --loglevel=error)
fi

# The command-line tool and Debian's copyright file travel as extra files; their paths depend on the
# profile and the checkout, so this part of the configuration is written here.
cli="$root/target/$profile/onevision"
extra=$(mktemp --suffix=.json)
trap 'rm -f "$extra"' EXIT
cat > "$extra" <<EOF
{"bundle": {"linux": {
  "deb": {"files": {"/usr/bin/onevision": "$cli",
                    "/usr/share/doc/onevision-desk/copyright": "$root/packaging/copyright"}},
  "rpm": {"files": {"/usr/bin/onevision": "$cli"}}
}}}
EOF

out="target/$profile/bundle"
rm -rf "$out/deb" "$out/rpm"
flags=(--ci --no-sign --no-binary-patching --bundles deb,rpm --config ../packaging/tauri.bundle.json --config "$extra")
[ "$profile" = debug ] && flags+=(--debug)
(cd src-tauri && ../packaging/node_modules/.bin/tauri bundle "${flags[@]}")

ls "$root/$out"/deb/*.deb "$root/$out"/rpm/*.rpm
