#!/usr/bin/env bash
# Build the Python example policy into a WebAssembly component with componentize-py:
#   target/plugins/python_policy.wasm   (paths relative to the repository root)
#
# Works from any directory. Idempotent: the virtualenv (target/python-venv) is reused, and the
# component is rebuilt only when app.py, wit/policy.wit or this script is newer than it.
# FORCE=1 rebuilds anyway. PYTHON selects the interpreter for the virtualenv (default python3).
set -euo pipefail

# The pinned tool. 0.25.1 produces components importing WASI 0.2.9, which wasmtime 48
# (WASI 0.2.12) links; see README.md before changing it.
COMPONENTIZE_PY_VERSION=0.25.1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
venv="$root/target/python-venv"
stage="$root/target/python-policy-build"
out_dir="$root/target/plugins"
out="$out_dir/python_policy.wasm"
wit="$root/wit/policy.wit"
inputs=("$here/app.py" "$wit" "$here/build.sh")

say() { printf 'python-policy: %s\n' "$*"; }

# 1. Up to date? Rebuild only if some input is newer than the component.
if [[ -f "$out" && "${FORCE:-0}" != 1 ]]; then
    stale=()
    for input in "${inputs[@]}"; do
        if [[ "$input" -nt "$out" ]]; then stale+=("${input#"$root"/}"); fi
    done
    if [[ ${#stale[@]} -eq 0 ]]; then
        say "${out#"$root"/} is up to date (newer than app.py, wit/policy.wit and build.sh); nothing to do"
        exit 0
    fi
    say "rebuilding: changed since the last build: ${stale[*]}"
fi

# 2. The virtualenv with the pinned componentize-py (created once, then reused).
if [[ ! -x "$venv/bin/python" ]]; then
    python=${PYTHON:-python3}
    say "creating the virtualenv ${venv#"$root"/} with $("$python" --version 2>&1)"
    if ! "$python" -m venv "$venv"; then
        say "error: '$python -m venv' failed; install Python's venv module (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
else
    say "reusing the virtualenv ${venv#"$root"/}"
fi
installed=$("$venv/bin/python" -m pip show componentize-py 2>/dev/null | sed -n 's/^Version: //p' || true)
if [[ "$installed" != "$COMPONENTIZE_PY_VERSION" ]]; then
    say "installing componentize-py==$COMPONENTIZE_PY_VERSION (found: ${installed:-none})"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
else
    say "componentize-py $installed is installed"
fi

# 3. An isolated Python path: only app.py, and an empty site-packages. Without VIRTUAL_ENV
# pointing at it, componentize-py falls back to the site-packages of whatever `python3` is on
# PATH, and that machine-specific directory listing ends up in the component's snapshot.
rm -rf "$stage"
mkdir -p "$stage/src" "$stage/env/lib/python3/site-packages" "$out_dir"
cp "$here/app.py" "$stage/src/app.py"

# 4. Build. componentize-py generates the `wit_world` bindings from the WIT itself (into a
# temporary directory), so no generated code is kept in the repository. Write to a temporary
# file and rename, so a failed build never leaves a component that looks up to date.
say "building ${out#"$root"/} from app.py against wit/policy.wit (world policy); this takes about a minute"
started=$SECONDS
VIRTUAL_ENV="$stage/env" "$venv/bin/componentize-py" --quiet \
    --wit-path "$wit" --world policy \
    componentize --python-path "$stage/src" app --output "$out.tmp"
mv -f "$out.tmp" "$out"
say "built ${out#"$root"/}: $(wc -c <"$out" | tr -d ' ') bytes in $((SECONDS - started)) s"
