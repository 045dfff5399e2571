#!/usr/bin/env bash
# tools/test-libcurl8.sh - the C engine tests and the mocha suite against
# libcurl 8 (bookworm-backports), without touching the machine's libcurl.
#
#   1. apt, with a private configuration (its own sources list naming only
#      bookworm-backports, its own package lists and cache under the cache
#      dir), downloads libcurl4 and libcurl4-openssl-dev from backports,
#      plus any runtime dependency of that libcurl4 that the installed system
#      lacks in a sufficient version. Nothing is installed: the machine's apt
#      sources, lists and packages stay as they were.
#   2. dpkg-deb -x unpacks them into a private prefix; its libcurl.pc is
#      rewritten for that prefix.
#   3. A copy of the project (build-curl8/pkg; node_modules linked, not
#      copied) builds the addon and the engine tests with PKG_CONFIG_PATH
#      pointing at the private libcurl.pc and an rpath to its libcurl.so.4,
#      so the checkout's own build/ (and test/engine/build/) are not touched.
#   4. ldd must resolve libcurl.so.4 to the private copy, for the addon and
#      for the engine test binary; the curl_version() that the loaded addon
#      sees is printed and must be 8.x.
#   5. The engine tests (tools/engine-tests.js) and mocha run in the copy.
#
# Usage: tools/test-libcurl8.sh [MOCHA ARGS...]   (with args: mocha only)
# Environment: CURL8_DIR (default <checkout>/build-curl8, ignored by git),
#   CURL8_SUITE (apt suite, default bookworm-backports).
# Last line: `N passed, N failed` (engine tests and mocha together).
# Exit status: 0 when everything passed, 1 on test failures, 2 when a setup
# step (download, build, library check) failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CURL8_DIR:-$root/build-curl8}
suite=${CURL8_SUITE:-bookworm-backports}
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
cache=$dir/cache
prefix=$dir/prefix
pkg=$dir/pkg
libdir=$prefix/usr/lib/$multiarch
started=$(date +%s)

log() { echo "test-libcurl8: $*"; }
fail_setup() { log "$*" >&2; echo "0 passed, 1 failed"; exit 2; }

mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$cache/etc/preferences.d" "$cache/debs"
cat > "$cache/etc/sources.list" <<EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main
EOF
# Only this sources list and these lists; the installed packages
# (/var/lib/dpkg/status) are still read, which is what the dependency check
# needs. Downloads run as root (the cache dir is not the _apt user's).
apt_opts=(
  -o "Dir::Etc::sourcelist=$cache/etc/sources.list"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::Etc::preferencesparts=$cache/etc/preferences.d"
  -o "Dir::State::Lists=$cache/lists"
  -o "Dir::Cache=$cache"
  -o "Dir::Cache::archives=$cache/archives"
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1"
  -q
)

# 1. package lists (kept in the cache; refreshed once a day)
lists_stamp=$cache/lists/.updated
if [ ! -f "$lists_stamp" ] || [ -n "$(find "$lists_stamp" -mmin +1440)" ]; then
  log "apt-get update ($suite only, private lists in $cache/lists)"
  if apt-get "${apt_opts[@]}" update >"$cache/update.log" 2>&1; then
    touch "$lists_stamp"
  elif ls "$cache"/lists/*_Packages >/dev/null 2>&1; then
    log "apt-get update failed, using the cached lists (see $cache/update.log)"
  else
    cat "$cache/update.log" >&2
    fail_setup "apt-get update failed and nothing is cached"
  fi
fi

# The suite's version of a package (empty if the suite has none).
suite_version() {
  apt-cache "${apt_opts[@]}" madison "$1" 2>/dev/null |
    awk -F'|' -v s="$suite" '$3 ~ s { gsub(/ /, "", $2); print $2; exit }'
}

curl_ver=$(suite_version libcurl4)
[ -n "$curl_ver" ] || fail_setup "no libcurl4 in $suite"

# Downloads NAME=VERSION into the cache (once) and prints the .deb's path.
fetch_deb() {
  local name=$1 ver=$2 file
  file=$(ls "$cache/debs/${name}_${ver//:/%3a}_"*.deb 2>/dev/null | head -1 || true)
  if [ -z "$file" ]; then
    (cd "$cache/debs" && apt-get "${apt_opts[@]}" download "$name=$ver" >&2) ||
      fail_setup "apt-get download $name=$ver failed"
    file=$(ls "$cache/debs/${name}_${ver//:/%3a}_"*.deb | head -1)
  fi
  echo "$file"
}

debs=("$(fetch_deb libcurl4 "$curl_ver")" "$(fetch_deb libcurl4-openssl-dev "$curl_ver")")

# Runtime dependencies of the new libcurl4: each must be installed in the
# version it asks for, or it comes from the suite too (unpacked, not
# installed). Alternatives (a | b) are satisfied by their first member.
depends=$(apt-cache "${apt_opts[@]}" show "libcurl4=$curl_ver" | sed -n 's/^Depends: //p' | head -1)
IFS=',' read -ra deps <<<"$depends"
for d in "${deps[@]}"; do
  d=${d%%|*}
  name=$(echo "$d" | awk '{print $1}')
  name=${name%%:*}
  op=$(echo "$d" | sed -n 's/.*(\([<>=]*\) *\([^)]*\)).*/\1/p')
  want=$(echo "$d" | sed -n 's/.*(\([<>=]*\) *\([^)]*\)).*/\2/p')
  have=$(dpkg-query -W -f='${Status} ${Version}\n' "$name" 2>/dev/null |
    awk '/install ok installed/ { print $4 }' | head -1 || true)
  if [ -n "$have" ] && { [ -z "$op" ] || dpkg --compare-versions "$have" "$op" "$want"; }; then
    continue
  fi
  newer=$(suite_version "$name")
  if [ -z "$newer" ] || { [ -n "$op" ] && ! dpkg --compare-versions "$newer" "$op" "$want"; }; then
    fail_setup "libcurl4 $curl_ver needs $d; installed: ${have:-none}; $suite has: ${newer:-none}"
  fi
  log "dependency $name: installed ${have:-none}, needs $op $want: unpacking $newer from $suite"
  debs+=("$(fetch_deb "$name" "$newer")")
done

# 2. the private prefix
rm -rf "$prefix"
mkdir -p "$prefix"
for f in "${debs[@]}"; do dpkg-deb -x "$f" "$prefix"; done
pc=$libdir/pkgconfig/libcurl.pc
[ -f "$pc" ] && [ -e "$libdir/libcurl.so.4" ] || fail_setup "no libcurl.pc or libcurl.so.4 under $libdir"
# Requires.private (and Cflags.private) are for static linking; pkg-config
# still insists on finding every module they name, and Debian 12 lacks .pc
# files for several (libzstd, libpsl, ...): the addon links the shared
# library, so they go.
sed -i -e "s|^prefix=.*|prefix=$prefix/usr|" \
  -e "s|^includedir=/usr/|includedir=\${prefix}/|" \
  -e '/^Requires.private:/d' -e '/^Cflags.private:/d' "$pc"
log "libcurl $curl_ver unpacked into ${prefix#"$root"/} ($(basename -a "${debs[@]}" | tr '\n' ' '))"
export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export LDFLAGS="-Wl,-rpath,$libdir${LDFLAGS:+ $LDFLAGS}"
pkg-config --exists --print-errors libcurl liburcu-memb liburcu-cds ck || fail_setup "pkg-config cannot find the modules"
[ "$(pkg-config --modversion libcurl)" = "${curl_ver%%-*}" ] ||
  fail_setup "pkg-config finds libcurl $(pkg-config --modversion libcurl), not ${curl_ver%%-*}"
log "pkg-config: libcurl $(pkg-config --modversion libcurl): $(pkg-config --cflags --libs libcurl)"

# 3. the copy of the project, rebuilt
rm -rf "$pkg"
mkdir -p "$pkg"
(cd "$root" && tar --exclude=test/engine/build -cf - index.js index.mjs index.d.ts package.json \
  binding.gyp .mocharc.json bin lib engine napi test tools) | tar -xf - -C "$pkg"
ln -s "$root/node_modules" "$pkg/node_modules"
log "building the addon in ${pkg#"$root"/}"
(cd "$pkg" && node tools/setup.js --build-only --force >"$dir/build.log" 2>&1) ||
  { tail -30 "$dir/build.log" >&2; fail_setup "addon build failed (log: $dir/build.log)"; }
addon=$pkg/build/Release/curl_dispatcher.node

# 4. which libcurl the addon gets
resolved() { ldd "$1" | awk '$1 == "libcurl.so.4" { print $3 }'; }
got=$(resolved "$addon")
[ "$got" = "$libdir/libcurl.so.4" ] || fail_setup "the addon resolves libcurl.so.4 to '$got', not $libdir/libcurl.so.4"
log "ldd: addon -> libcurl.so.4 => ${got#"$root"/}"
# curl_version() of the libcurl the addon loaded: dlopen the addon (lazy
# binding: its N-API symbols stay unresolved, nothing of it runs), then look
# curl_version up in its own dependency scope.
cat > "$dir/curlver.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
int main(int argc, char **argv) {
  void *h = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
  if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  const char *(*version)(void) = (const char *(*)(void))dlsym(h, "curl_version");
  if (!version) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  Dl_info info;
  if (!dladdr((void *)version, &info)) return 1;
  printf("%s\t%s\n", version(), info.dli_fname);
  return 0;
}
EOF
cc -o "$dir/curlver" "$dir/curlver.c" -ldl || fail_setup "cannot build the curl_version() probe"
probe=$("$dir/curlver" "$addon") || fail_setup "the curl_version() probe failed"
runtime_version=${probe%%$'\t'*}
log "curl_version() in the addon: $runtime_version (from ${probe#*$'\t'})"
case $runtime_version in
  libcurl/8.*) ;;
  *) fail_setup "the addon runs with $runtime_version, not libcurl 8" ;;
esac

# 5. the tests
passed=0
failed=0
count() { # count LOG PREFIX: adds the "PREFIX: N passed, N failed" line's numbers
  local line
  line=$(grep -E "^$2: [0-9]+ passed, [0-9]+ failed" "$1" | tail -1 || true)
  if [ -z "$line" ]; then
    failed=$((failed + 1))
    log "$2: no summary line (see $1)"
    return
  fi
  passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
  failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
}

if [ $# -eq 0 ]; then
  log "engine tests"
  (cd "$pkg" && node tools/engine-tests.js >"$dir/engine.log" 2>&1) || true
  got=$(resolved "$pkg/test/engine/build/plain/cd-tests" || true)
  if [ "$got" != "$libdir/libcurl.so.4" ]; then
    log "the engine tests resolve libcurl.so.4 to '$got', not the private copy"
    failed=$((failed + 1))
  fi
  grep -E '^not ok ' "$dir/engine.log" || true
  tail -1 "$dir/engine.log"
  count "$dir/engine.log" engine
fi

log "mocha"
set +e
(cd "$pkg" && CD_TEST_LIBCURL="$runtime_version" node node_modules/mocha/bin/mocha.js "$@") 2>&1 | tee "$dir/mocha.log"
set -e
count "$dir/mocha.log" mocha

log "libcurl $curl_ver, $(( $(date +%s) - started )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
