#!/usr/bin/env python3
"""Fails when cargo would compile a crate twice for one build (issue 25, "Build"), when a
release build of the binary would compile a test plugin, or when the nested wasm build of
the standard plugins would wait for wasmtime.

host/build.rs precompiles the standard plugins with wasmtime, so wasmtime is a build
dependency as well as a normal one. Cargo builds a crate once for both only when the two
units are identical: same features, same profile settings, same dependencies. host/Cargo.toml's
[build-dependencies] and the workspace's build-override profiles are set so that they are; a
dependency update that gives some crate under wasmtime another feature in one tree would
quietly double the build again (about five minutes of a clean release build here). This
asks cargo for its unit graph (`--unit-graph`, unstable: RUSTC_BOOTSTRAP lets the pinned
stable cargo print it; nothing is built) for the builds CI and users run, and names every
crate that appears twice and what differs.

The plugins' components are compiled by nested cargo builds in the build scripts of
tollgate-standard-plugins (a build dependency of the host) and tollgate-test-plugins (a
dev-dependency); both scripts must depend on nothing that takes long, so that they run while
Cranelift and wasmtime compile, and the release binary needs only the first.

Crates only the compiler runs (proc macros, code generators, build-script helpers) are
compiled unoptimised; the workspace Cargo.toml lists them in [profile.release.package], since
the build-override that keeps wasmtime one unit would optimise them. A new one missing from
the list, or a listed one the binary or a plugin component links, fails here.

Usage: python3 tests/build_units.py
"""

import collections
import json
import os
import subprocess
import sys
import tomllib

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


# Build scripts that run a nested wasm build, and what they must not wait for.
NESTED_BUILDS = ["tollgate-standard-plugins", "tollgate-test-plugins"]
SLOW = ["wasmtime", "cranelift-codegen"]
# What a release build of the binary alone never compiles.
TEST_ONLY = ["tollgate-test-plugins"]


def package_name(unit):
    """The package name of a unit (its id ends in `name@version`)."""
    return unit["pkg_id"].split("#")[-1].rsplit("@", 1)[0].split("/")[-1]


def waiting_nested_builds(graph):
    """Nested-build scripts whose run waits for one of SLOW, with the crate it waits for."""
    units = graph["units"]
    found = []
    for unit in units:
        if unit["mode"] != "run-custom-build" or package_name(unit) not in NESTED_BUILDS:
            continue
        seen, stack = set(), [dep["index"] for dep in unit["dependencies"]]
        while stack:
            index = stack.pop()
            if index in seen:
                continue
            seen.add(index)
            if package_name(units[index]) in SLOW:
                found.append(f"{package_name(unit)}'s build script waits for {package_name(units[index])}")
                break
            stack.extend(dep["index"] for dep in units[index]["dependencies"])
    return found


def linked_packages(graph):
    """Packages whose code the root units link: reachable from the roots without passing
    through a build script or a proc macro."""
    units = graph["units"]
    seen, stack = set(), list(graph["roots"])
    while stack:
        index = stack.pop()
        if index in seen:
            continue
        seen.add(index)
        for dep in units[index]["dependencies"]:
            target = units[dep["index"]]
            if target["mode"] == "build" and not {"proc-macro", "custom-build"} & set(target["target"]["kind"]):
                stack.append(dep["index"])
    return {package_name(units[index]) for index in seen}


# The plugins' nested builds use the `plugin` profile, which inherits release's package list:
# a listed crate linked into a component would be unoptimised there.
PLUGIN_BUILD = ["build", "--target", "wasm32-wasip2", "--profile", "plugin",
                "-p", "change-window", "-p", "approval-count", "-p", "secret-scope", "-p", "erp-readiness",
                "-p", "deployment-health", "-p", "soak-time", "-p", "image-policy"]


def compiler_only_mismatches(graph, plugins):
    """Crates the binary never links but the release build optimises, and listed crates the
    binary or a plugin component links."""
    with open(os.path.join(os.path.dirname(__file__), "..", "Cargo.toml"), "rb") as manifest:
        listed = set(tomllib.load(manifest)["profile"]["release"].get("package", {}))
    linked = linked_packages(graph) | linked_packages(plugins)
    external = {package_name(u) for u in graph["units"] if not u["pkg_id"].startswith("path+")}
    optimised = {package_name(u) for u in graph["units"] if u["profile"]["opt_level"] != "0"}
    missing = sorted((external - linked) & optimised - listed)
    wrongly = sorted(listed & linked)
    return missing, wrongly


def main():
    failed = False
    graphs = {tuple(args): unit_graph(args) for args in BUILDS}
    release = graphs[tuple(BUILDS[0])]
    test_only = sorted({package_name(u) for u in release["units"]} & set(TEST_ONLY))
    if test_only:
        failed = True
        print(f"cargo build --release -p tollgate would compile {', '.join(test_only)} (test plugins): "
              "keep it a dev-dependency of the host", file=sys.stderr)
    else:
        print("cargo build --release -p tollgate: no test plugin")
    missing, wrongly = compiler_only_mismatches(release, unit_graph(PLUGIN_BUILD))
    if missing or wrongly:
        failed = True
        if missing:
            print("cargo build --release -p tollgate optimises crates only the compiler runs: add "
                  f"{', '.join(missing)} to [profile.release.package] in Cargo.toml", file=sys.stderr)
        if wrongly:
            print(f"Cargo.toml's [profile.release.package] leaves {', '.join(wrongly)} unoptimised, "
                  "but the binary or a plugin component links it: remove it from that list", file=sys.stderr)
    else:
        print("cargo build --release -p tollgate: crates only the compiler runs are compiled unoptimised")
    for args, graph in graphs.items():
        command = "cargo " + " ".join(args)
        waiting = waiting_nested_builds(graph)
        if waiting:
            failed = True
            for line in waiting:
                print(f"{command}: {line}: it would start only once they are compiled", file=sys.stderr)
        elif not any(u["mode"] == "run-custom-build" and package_name(u) in NESTED_BUILDS for u in graph["units"]):
            failed = True
            print(f"{command}: no nested plugin build found ({', '.join(NESTED_BUILDS)})", file=sys.stderr)
        else:
            print(f"{command}: the plugins' nested builds wait for no wasmtime")
    doubled = False
    for args in BUILDS:
        found = twice(graphs[tuple(args)])
        command = "cargo " + " ".join(args)
        if found:
            failed = doubled = True
            print(f"{command}: {len(found)} crates would be compiled twice:", file=sys.stderr)
            for line in found:
                print(f"  {line}", file=sys.stderr)
        else:
            print(f"{command}: every crate compiled once")
    if doubled:
        print(
            "Give host/Cargo.toml's [build-dependencies] the features the normal tree has "
            "(see the comment there), or match the profile in the workspace Cargo.toml.",
            file=sys.stderr,
        )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
