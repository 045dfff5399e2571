#!/usr/bin/env bash
# tools/test-slim-install.sh - `npm install curl-dispatcher` where Node
# services are built: a slim Debian image (node:20-slim's base, bookworm
# minbase: no compiler, no Python, no make, no sudo) with Node laid out as
# the slim image has it (/usr/local/bin/node, /usr/local/include/node,
# /usr/local/lib/node_modules/npm), in a chroot this script makes.
#
#   1. as a user: the install fails with one message naming every missing
#      package in one command (no sudo on the machine), and nothing else;
#   2. as root: the install brings what it needs itself (apt-get), leaves no
#      package lists or downloaded packages behind, and a request goes
#      through the Agent;
#   3. as the user again, now that the packages are there: installs, and a
#      request goes through.
# Prints the times and the root's size before and after (for the README).
# Needs root (debootstrap, chroot, mounts) and the Debian and npm registries.
# Usage: tools/test-slim-install.sh [DIR]   (default: a fresh temporary dir)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/cd-slim.XXXXXX)}
rootfs="$work/rootfs"
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}

say() { echo "test-slim-install: $*"; }
fail() { echo "test-slim-install: FAILED: $*" >&2; exit 1; }

cleanup() {
  for m in dev/pts dev proc; do
    mountpoint -q "$rootfs/$m" 2>/dev/null && umount -l "$rootfs/$m" || true
  done
  [ -z "${1:-}" ] && rm -rf "$work"
}
trap cleanup EXIT

if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi

t0=$(date +%s)
say "debootstrap --variant=minbase bookworm ($mirror)"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
# as the slim image: no package lists, no caches
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

# Node as node:*-slim lays it out
node_bin=$(command -v node)
node_prefix=$(cd "$(dirname "$(readlink -f "$node_bin")")/.." && pwd)
npm_dir="$(npm root -g)/npm"
[ -f "$node_prefix/include/node/node_api.h" ] || fail "no Node headers under $node_prefix/include/node"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/include" "$rootfs/usr/local/lib/node_modules"
cp "$(readlink -f "$node_bin")" "$rootfs/usr/local/bin/node"
cp -r "$node_prefix/include/node" "$rootfs/usr/local/include/node"
cp -r "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
# A machine whose TLS to the registry goes through a proxy with its own CA
# (NODE_EXTRA_CA_CERTS) passes that CA on; a slim image reaching the
# registry directly needs nothing of the kind.
extra_ca=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  cp "$NODE_EXTRA_CA_CERTS" "$rootfs/etc/host-extra-ca.crt"
  extra_ca=(NODE_EXTRA_CA_CERTS=/etc/host-extra-ca.crt)
fi
for m in proc dev dev/pts; do mkdir -p "$rootfs/$m"; done
mount -t proc proc "$rootfs/proc"
mount --bind /dev "$rootfs/dev"
mount --bind /dev/pts "$rootfs/dev/pts"
chroot "$rootfs" useradd -m -s /bin/sh app
size_before=$(du -sm --exclude=proc --exclude=dev "$rootfs" | cut -f1)
for tool in python3 make cc g++ pkg-config sudo; do
  if chroot "$rootfs" sh -c "command -v $tool" >/dev/null; then fail "the slim root has $tool"; fi
done
say "slim root ready in $(( $(date +%s) - t0 )) s, ${size_before} MB, node $(chroot "$rootfs" node --version)"

# the package as npm would publish it
(cd "$repo" && npm pack --silent --pack-destination "$rootfs/tmp" >/dev/null)
tarball=$(cd "$rootfs/tmp" && ls curl-dispatcher-*.tgz)
cat >"$rootfs/tmp/try.js" <<'JS'
const http = require('node:http')
const undici = require('undici')
const { Agent } = require('curl-dispatcher')
const server = http.createServer((req, res) => res.end('hello from ' + req.url)).listen(0, '127.0.0.1', async () => {
  const agent = new Agent()
  const res = await undici.request(`http://127.0.0.1:${server.address().port}/slim`, { dispatcher: agent })
  console.log(res.statusCode, await res.body.text())
  await agent.close()
  server.close()
})
JS

in_root() { chroot "$rootfs" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "${extra_ca[@]}" sh -c "$1"; }
as_user() { chroot --userspec=app:app "$rootfs" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/app "${extra_ca[@]}" sh -c "$1"; }
install_cmd="npm init -y >/dev/null && npm install --no-audit --no-fund /tmp/$tarball undici@7"

say "1. as a user, nothing installed: one message naming every package"
if as_user "mkdir -p ~/svc && cd ~/svc && $install_cmd" >"$work/user1.log" 2>&1; then
  cat "$work/user1.log"; fail "the install succeeded without a tool chain"
fi
for pkg in python3 make gcc libc6-dev pkg-config libcurl4-openssl-dev liburcu-dev libck-dev zlib1g-dev libbrotli-dev libzstd-dev; do
  grep -q -- " $pkg" "$work/user1.log" || { cat "$work/user1.log"; fail "the message does not name $pkg"; }
done
grep -q "sudo" "$work/user1.log" && { cat "$work/user1.log"; fail "the message names sudo, which the machine lacks"; }
grep -qE "gyp (info|ERR)" "$work/user1.log" && { cat "$work/user1.log"; fail "node-gyp ran: the message should stand alone"; }
sed -n '/\[setup\]/,/apt-get update/p' "$work/user1.log" | sed 's/^/    /'

say "2. as root: the install brings the tool chain and libraries itself"
t1=$(date +%s)
in_root "mkdir -p /root/svc && cd /root/svc && $install_cmd" >"$work/root.log" 2>&1 ||
  { cat "$work/root.log"; fail "the install as root failed"; }
t_root=$(( $(date +%s) - t1 ))
lists=$(find "$rootfs/var/lib/apt/lists" -maxdepth 1 -type f -name '*_Packages*' | wc -l)
debs=$(find "$rootfs/var/cache/apt/archives" -maxdepth 1 -name '*.deb' | wc -l)
[ "$lists" -eq 0 ] || fail "$lists package lists left in /var/lib/apt/lists"
[ "$debs" -eq 0 ] || fail "$debs downloaded packages left in /var/cache/apt/archives"
out=$(in_root "cd /root/svc && cp /tmp/try.js . && node try.js") || fail "a request as root"
[ "$out" = "200 hello from /slim" ] || fail "the request as root gave: $out"
size_after=$(du -sm --exclude=proc --exclude=dev --exclude=root --exclude=home --exclude=tmp "$rootfs" | cut -f1)
say "   installed in ${t_root} s; request: $out; system ${size_before} MB -> ${size_after} MB, no apt lists or .deb left"
say "   the addon needs at run time: $(in_root "ldd /root/svc/node_modules/curl-dispatcher/build/Release/curl_dispatcher.node" | awk '/=>/ {print $1}' | grep -E 'curl|urcu|ck|libz|brotli|zstd' | tr '\n' ' ')"

say "3. as the user again, the packages now there"
t2=$(date +%s)
as_user "rm -rf ~/svc && mkdir -p ~/svc && cd ~/svc && $install_cmd" >"$work/user2.log" 2>&1 ||
  { cat "$work/user2.log"; fail "the install as a user failed with the packages there"; }
t_user=$(( $(date +%s) - t2 ))
out=$(as_user "cd ~/svc && cp /tmp/try.js . && node try.js") || fail "a request as the user"
[ "$out" = "200 hello from /slim" ] || fail "the request as the user gave: $out"
say "   installed in ${t_user} s; request: $out"
say "passed"
