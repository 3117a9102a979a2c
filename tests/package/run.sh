#!/usr/bin/env bash
# The Linux packages as a student gets them: bundles the debug build that `cargo test --workspace`
# made (scripts/package.sh --debug), checks both packages' names, versions, dependencies and files,
# installs the .deb with dpkg, checks the desktop entry and its icons, starts the installed app the
# way the entry does under Xvfb until its window has painted, then removes the package and checks
# that nothing it installed is left. Needs root (sudo otherwise), dpkg, rpm, desktop-file-validate
# and Xvfb (scripts/install-deps.sh --test).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

fail() { echo "package test: $*" >&2; exit 1; }
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || fail "no version under [workspace.package] in Cargo.toml"
if dpkg-query -W -f '${Status}' onevision-desk 2>/dev/null | grep -q ' installed'; then
  fail "onevision-desk is already installed on this machine; remove it first (dpkg -r onevision-desk) so the test does not replace your copy"
fi

bash scripts/package.sh --debug
deb="target/debug/bundle/deb/onevision-desk_${version}_amd64.deb"
rpm="target/debug/bundle/rpm/onevision-desk-${version}-1.x86_64.rpm"
[ -f "$deb" ] || fail "$deb was not written"
[ -f "$rpm" ] || fail "$rpm was not written"

# --- What the packages say about themselves ------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = onevision-desk ] || fail "the .deb's Package is '$(field Package)', not onevision-desk"
[ "$(field Version)" = "$version" ] || fail "the .deb's Version is '$(field Version)', the workspace's is $version"
for dep in libwebkit2gtk-4.1-0 libgtk-3-0 libxcb1; do
  field Depends | tr ',' '\n' | grep -qx " *$dep" || fail "the .deb does not depend on $dep: $(field Depends)"
done
[ "$(rpm -qp --qf '%{NAME} %{VERSION}' "$rpm")" = "onevision-desk $version" ] \
  || fail "the .rpm calls itself '$(rpm -qp --qf '%{NAME} %{VERSION}' "$rpm")'"
rpm -qpR "$rpm" | grep -q '^libwebkit2gtk-4.1.so.0' || fail "the .rpm does not require WebKitGTK 4.1"

# Both packages carry the same program files (the .deb adds Debian's copyright file).
deb_files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $NF}' | sed 's|^\./|/|; s|^\([^/]\)|/\1|' | sort)
rpm_files=$(rpm -qpl "$rpm" | sort)
expected="/usr/bin/onevision
/usr/bin/onevision-desk
/usr/share/applications/onevision-desk.desktop"
for size in 32 48 64 128 256 512; do
  expected+=$'\n'"/usr/share/icons/hicolor/${size}x${size}/apps/onevision-desk.png"
done
expected=$(sort <<<"$expected")
[ "$rpm_files" = "$expected" ] || fail "the .rpm holds $(tr '\n' ' ' <<<"$rpm_files"), expected $(tr '\n' ' ' <<<"$expected")"
[ "$deb_files" = "$(sort <<<"$expected"$'\n'/usr/share/doc/onevision-desk/copyright)" ] \
  || fail "the .deb holds $(tr '\n' ' ' <<<"$deb_files")"

# --- Installed ----------------------------------------------------------------------------------
installed=0
work=$(mktemp -d)
cleanup() {
  [ -n "${app_pid:-}" ] && kill "$app_pid" 2>/dev/null
  [ "$installed" = 1 ] && "${as_root[@]}" dpkg -r onevision-desk >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

"${as_root[@]}" dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb failed"
installed=1
dpkg-query -L onevision-desk | sort > "$work/files"

[ "$(onevision --version)" = "onevision $version" ] || fail "the installed onevision says '$(onevision --version)'"

entry=/usr/share/applications/onevision-desk.desktop
desktop-file-validate "$entry" || fail "$entry is not a valid desktop entry"
key() { sed -n "s/^$1=//p" "$entry"; }
[ "$(key Name)" = "OneVision Desk" ] || fail "$entry names the app '$(key Name)'"
exec_line=$(key Exec)
program=$(command -v "${exec_line%% *}") || fail "$entry starts '$exec_line', which is not on PATH"
[ "$program" = /usr/bin/onevision-desk ] || fail "$entry starts $program, not the installed app"
icon=$(key Icon)
for size in 32 48 64 128 256 512; do
  png="/usr/share/icons/hicolor/${size}x${size}/apps/$icon.png"
  [ -f "$png" ] || fail "$entry's icon '$icon' has no $png"
  actual=$(file -b "$png" | sed -n 's/^PNG image data, \([0-9]*\) x \([0-9]*\),.*/\1x\2/p')
  [ "$actual" = "${size}x${size}" ] || fail "$png is $actual pixels, not ${size}x${size}"
done

# Start it as the desktop entry does, with a fresh home, until its first window has painted; the
# window must carry the class the entry's StartupWMClass names, or docks show a second icon.
# A display no other X server holds (the end-to-end test's may still be exiting).
n=90
while [ -e "/tmp/.X$n-lock" ] && [ "$n" -lt 200 ]; do n=$((n + 1)); done
display=":$n"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
trap 'cleanup; kill $xvfb_pid 2>/dev/null' EXIT
sleep 1
mkdir -p "$work/home"
env -i PATH=/usr/bin:/bin HOME="$work/home" DISPLAY="$display" RUST_LOG=info NO_COLOR=1 \
  WEBKIT_DISABLE_COMPOSITING_MODE=1 $exec_line > "$work/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 120); do
  grep -q "window painted" "$work/app.log" && break
  kill -0 "$app_pid" 2>/dev/null || fail "the installed app exited before its window painted: $(tail -5 "$work/app.log")"
  sleep 0.5
done
grep -q "window painted" "$work/app.log" || fail "the installed app painted no window within 60 s: $(tail -5 "$work/app.log")"
windows=$(DISPLAY="$display" xwininfo -root -tree)
class=$(key StartupWMClass)
grep -q "\"OneVision Desk\": (\"$class\"" <<<"$windows" \
  || fail "no window titled 'OneVision Desk' with the class $entry names ($class): $(grep -i onevision <<<"$windows")"
[ -d "$work/home/.local/share/onevision-desk" ] || fail "the installed app kept no data under its home ($work/home)"
kill "$app_pid"
wait "$app_pid" 2>/dev/null || true
app_pid=

# --- Removed ------------------------------------------------------------------------------------
"${as_root[@]}" dpkg -r onevision-desk >/dev/null || fail "dpkg -r onevision-desk failed"
installed=0
dpkg-query -W -f '${Status}' onevision-desk 2>/dev/null | grep -q ' installed' && fail "onevision-desk is still installed after dpkg -r"
left=$(while read -r f; do if [ -f "$f" ]; then echo "$f"; fi; done < "$work/files")
[ -z "$left" ] || fail "dpkg -r left $left"
command -v onevision >/dev/null && fail "onevision is still on PATH after dpkg -r"

echo "package test: $deb and $rpm install, start and remove cleanly"
