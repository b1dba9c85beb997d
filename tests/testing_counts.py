#!/usr/bin/env python3
"""TESTING.md's counts, computed instead of typed.

The tests of each suite come from `cargo test --workspace --locked -- --list` (and
`-- --list --ignored` for the ignored ones), the fixture cases from the cases files. `./test`
runs this script, which fails when TESTING.md's "## Counts" section says anything else;
`python3 tests/testing_counts.py --write` rewrites that section.
"""

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTING = ROOT / "TESTING.md"
SECTION = "## Counts\n"
# A test binary cargo runs, or the doctests of a crate.
BINARY = re.compile(r"^\s+Running (?:unittests )?(?P<source>\S+) \((?P<path>[^)]+)\)$")
DOCTESTS = re.compile(r"^\s+Doc-tests (?P<crate>\S+)$")
SUMMARY = re.compile(r"^(?P<tests>\d+) tests?, \d+ benchmarks?$")
LISTED = re.compile(r"^(?P<name>.+): test$")
CASE = re.compile(r"^  - name:", re.MULTILINE)


def listed_tests(*extra):
    """{(crate, kind): [test names]} for every test binary and doctest run of the workspace."""
    command = ["cargo", "test", "--workspace", "--locked", "--", "--list", *extra]
    run = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        sys.exit(f"testing_counts: `{' '.join(command)}` failed:\n{run.stdout}")
    tests, current = {}, None
    for line in run.stdout.splitlines():
        if match := BINARY.match(line):
            crate = Path(match["path"]).name.rsplit("-", 1)[0]
            kind = "unit" if match["source"].startswith("src/") else "test"
            current = (crate, kind, match["source"])
            tests[current] = []
        elif match := DOCTESTS.match(line):
            current = (match["crate"], "doc", "")
            tests[current] = []
        elif current and (match := LISTED.match(line)):
            tests[current].append(match["name"])
        elif current and (match := SUMMARY.match(line)):
            if int(match["tests"]) != len(tests[current]):
                sys.exit(f"testing_counts: cannot read the list of {current}: {line}")
            current = None
    return tests


def packages_by_crate():
    """{crate name of a library or test target: (package name, package directory)}."""
    command = ["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"]
    metadata = json.loads(subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout)
    crates = {}
    for package in metadata["packages"]:
        directory = Path(package["manifest_path"]).parent.relative_to(ROOT).as_posix()
        for target in package["targets"]:
            crates[target["name"].replace("-", "_")] = (package["name"], directory)
    return crates


def count_row(label, parts):
    """A table row: the label with each non-empty part's count, and their sum."""
    shown = [(name, count) for name, count in parts if count]
    total = sum(count for _, count in shown)
    if len(shown) > 1:
        label += ": " + ", ".join(f"{name} {count}" for name, count in shown)
    return label, total


def counts_section():
    """The "## Counts" section as it must read."""
    tests, ignored = listed_tests(), listed_tests("--ignored")
    crates = packages_by_crate()
    e2e, host, sdk, plugins, others = [], [], [], [], []
    for (crate, kind, source), names in sorted(tests.items()):
        package, directory = crates[crate]
        if crate == "e2e":
            e2e.append(("end-to-end", len(names)))
        elif package == "tollgate":
            host.append(({"unit": "unit and property", "doc": "doctests"}.get(kind, source), len(names)))
        elif package == "tollgate-sdk":
            sdk.append(({"unit": "unit", "doc": "doctests"}.get(kind, Path(source).stem.replace("_", " ").replace("readme", "README")), len(names)))
        elif directory.startswith("plugins/"):
            plugins.append((package, len(names)))
        else:
            others.append((package, len(names)))
    plugins.sort(key=lambda part: (-part[1], part[0]))
    ignored_names = [f"`{name}`" for names in ignored.values() for name in names]

    rows = []
    label, total = count_row("end-to-end (`tests/e2e`)", e2e)
    rows.append((label, total, f" ({len(ignored_names)} of them ignored: {', '.join(ignored_names)}, see above)" if ignored_names else ""))
    rows.append((*count_row("host unit and property tests (`host/src`)", host), ""))
    rows.append((*count_row("SDK (`sdk`)", sdk), ""))
    rows.append((*count_row("plugins' native tests", plugins), ""))
    for package, count in others:
        if count:
            rows.append((f"`{package}`", count, ""))
    lines = ["| suite | tests |", "| --- | --- |"]
    lines += [f"| {label} | {total}{note} |" for label, total, note in rows]
    lines.append(f"| **total** | **{sum(total for _, total, _ in rows)}** |")

    cases = fixture_cases()
    python = cases.pop("the Python example's", 0)
    listed = ", ".join(f"{name} {count}" for name, count in cases.items())
    return (
        SECTION
        + "\n"
        + "Computed by `tests/testing_counts.py`, which `./test` runs and which fails when this section\n"
        + "differs from `cargo test --workspace --locked -- --list` and the cases files\n"
        + "(`python3 tests/testing_counts.py --write` rewrites it).\n\n"
        + "\n".join(lines)
        + "\n\nFixture cases run through the real host (`tollgate plugin test`), each asserted to pass by\n"
        + f"name: {listed}: **{sum(cases.values())}**; plus the Python example's {python} in its\n"
        + "ignored-by-default test, which `./test` runs.\n"
    )


def fixture_cases():
    """{whose: number of cases} for every cases file: standard plugins first, most cases first."""
    def count(path):
        return len(CASE.findall((ROOT / path).read_text()))

    standard = {path.parent.name: count(path) for path in sorted(ROOT.glob("plugins/*/cases.yaml"))}
    cases = dict(sorted(standard.items(), key=lambda item: (-item[1], item[0])))
    cases["image-policy"] = count("plugins/examples/image-policy/cases.yaml")
    cases["the `plugin new` scaffold's"] = count("host/src/scaffold/cases.yaml.tmpl")
    cases["the Python example's"] = count("plugins/examples/python-policy/cases.yaml")
    return cases


def main():
    text = TESTING.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    end = len(text) if end == -1 else end + 1
    wanted = counts_section()
    if text[start:end] == wanted:
        print("testing_counts: TESTING.md's counts agree with the tests and the cases files")
        return
    if sys.argv[1:] == ["--write"]:
        TESTING.write_text(text[:start] + wanted + text[end:])
        print("testing_counts: rewrote TESTING.md's counts")
        return
    sys.stderr.write(
        "testing_counts: TESTING.md's counts disagree with the tests and the cases files; the\n"
        "section should read:\n\n" + wanted +
        "\nRun `python3 tests/testing_counts.py --write` to rewrite it.\n"
    )
    sys.exit(1)


if __name__ == "__main__":
    main()
