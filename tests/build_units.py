#!/usr/bin/env python3
"""Fails when cargo would compile a crate twice for one build (issue 25, "Build").

host/build.rs precompiles the standard plugins with wasmtime, so wasmtime is a build
dependency as well as a normal one. Cargo builds a crate once for both only when the two
units are identical: same features, same profile settings, same dependencies. host/Cargo.toml's
[build-dependencies] and the workspace's build-override profiles are set so that they are; a
dependency update that gives some crate under wasmtime another feature in one tree would
quietly double the build again (about five minutes of a clean release build here). This
asks cargo for its unit graph (`--unit-graph`, unstable: RUSTC_BOOTSTRAP lets the pinned
stable cargo print it; nothing is built) for the builds CI and users run, and names every
crate that appears twice and what differs.

Usage: python3 tests/build_units.py
"""

import collections
import json
import os
import subprocess
import sys

BUILDS = [
    ["build", "--release", "-p", "tollgate"],
    ["test", "--workspace"],
]


def unit_graph(args):
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    out = subprocess.run(
        ["cargo", *args, "--locked", "-Z", "unstable-options", "--unit-graph"],
        env=env, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def twice(graph):
    """Units that compile the same crate target more than once, with what differs."""
    by_target = collections.defaultdict(list)
    for unit in graph["units"]:
        if unit["mode"] != "build":
            continue
        package = unit["pkg_id"].split("#")[-1]
        by_target[(package, unit["target"]["name"], tuple(unit["target"]["kind"]))].append(unit)
    found = []
    for (package, target, _), units in sorted(by_target.items()):
        if len(units) < 2:
            continue
        first, second = units[0], units[1]
        features = sorted(set(first["features"]) ^ set(second["features"]))
        profile = sorted(k for k in first["profile"] if first["profile"][k] != second["profile"][k])
        why = []
        if features:
            why.append("features differ: " + ", ".join(features))
        if profile:
            why.append("profile differs: " + ", ".join(profile))
        if not why:
            why.append("a dependency is built twice")
        found.append(f"{package} ({target}): {'; '.join(why)}")
    return found


def main():
    failed = False
    for args in BUILDS:
        found = twice(unit_graph(args))
        command = "cargo " + " ".join(args)
        if found:
            failed = True
            print(f"{command}: {len(found)} crates would be compiled twice:", file=sys.stderr)
            for line in found:
                print(f"  {line}", file=sys.stderr)
        else:
            print(f"{command}: every crate compiled once")
    if failed:
        print(
            "Give host/Cargo.toml's [build-dependencies] the features the normal tree has "
            "(see the comment there), or match the profile in the workspace Cargo.toml.",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
