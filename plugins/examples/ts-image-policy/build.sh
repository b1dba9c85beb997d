#!/usr/bin/env bash
# Build the TypeScript example policy into a WebAssembly component with tollgate-js
# (sdk-js/bin/tollgate-js.mjs: type-check, bundle, componentize-js):
#   target/plugins/ts_image_policy.wasm   (paths relative to the repository root)
#
# Works from any directory. Needs sdk-js's packages (./test installs them: npm ci in sdk-js).
# Rebuilds only when src/, sdk-js's code, WIT or lock file, or this script is newer than the
# component; FORCE=1 rebuilds anyway.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
out="$root/target/plugins/ts_image_policy.wasm"
inputs=("$here/src" "$here/build.sh" "$root/sdk-js/src" "$root/sdk-js/bin" "$root/sdk-js/wit" "$root/sdk-js/package-lock.json")

say() { printf 'ts-image-policy: %s\n' "$*"; }

if [[ ! -d "$root/sdk-js/node_modules/@bytecodealliance/componentize-js" ]]; then
    say "error: sdk-js's packages are not installed; run: npm ci --prefix sdk-js (./test does)" >&2
    exit 1
fi
if [[ -f "$out" && "${FORCE:-0}" != 1 ]] && [[ -z "$(find "${inputs[@]}" -newer "$out" -print -quit)" ]]; then
    say "${out#"$root"/} is up to date; nothing to do"
    exit 0
fi
say "type-checking, bundling and componentizing src/policy.ts (about 20 s)"
node "$root/sdk-js/bin/tollgate-js.mjs" build "$here/src/policy.ts" -o "$out"
