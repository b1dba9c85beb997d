#!/usr/bin/env python3
"""bench/compare's driver: generate the repositories, check that tollgate and regorus reach
the same verdicts, run every pair interleaved and print one table of medians and ratios.

Called by bench/compare (which builds tollgate, installs regorus and builds the regorus
library bench first); not meant to be run by hand.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATION = "4"  # bump when what the generator writes changes
DIGEST = "sha256:" + "ab" * 32
NEW_DIGEST = "sha256:" + "cd" * 32
# Tuesday 2026-01-13 10:00 Berlin: inside prod's change window, outside maintenance.
IN_WINDOW = "2026-01-13T10:00:00+01:00"
FRIDAY_EVENING = "2026-01-16T19:00:00+01:00"
IN_MAINTENANCE = "2026-01-14T13:30:00+01:00"  # Wednesday, in window, ERP maintenance

CONFIG_HEAD = """branch: main
environments: [dev, test, prod]
applications:
"""
POLICIES = """policies:
  - plugin: builtin:approval-count
    environments: [prod]
    config:
      environments:
        prod: { required: 2, groups: { sre: [bob, dana] }, group_minimums: { sre: 1 }, max_age: 24h }
  - plugin: builtin:change-window
    environments: [prod]
    config:
      environments:
        prod:
          timezone: Europe/Berlin
          windows:
            - { days: [mon, tue, wed, thu], start: "09:00", end: "16:00" }
          freezes:
            - { from: "2026-12-18 18:00", until: "2027-01-05 09:00", reason: year-end close }
  - plugin: builtin:secret-scope
    config: { environments: { dev: { allow: ["k8s:dev-*"] }, test: { allow: ["k8s:test-*"] }, prod: { allow: ["k8s:prod-*"] } } }
  - plugin: builtin:erp-readiness
    environments: [prod]
    config:
      environments:
        prod: { readiness_file: "envs/{env}/erp/readiness.yaml" }
"""
READINESS = """status: ready
maintenance:
  - { start: 2026-01-14T12:00:00Z, end: 2026-01-14T14:00:00Z, reason: SAP kernel upgrade }
"""


def app_name(index):
    return f"app-{index:04d}"


def values(app, env, version, secret_env):
    return (
        f"# {app} in {env} (Helm values)\nreplicaCount: 2\nimage:\n  repository: registry.example.com/shop/{app}\n"
        f'  tag: "{version}"\n  digest: {DIGEST}\nenv:\n  - name: DB_PASSWORD\n    valueFrom:\n'
        f"      secretKeyRef: {{ name: {secret_env}-db, key: password }}\n"
    )


def repo_files(apps, files):
    """The files of a generated repository: tollgate.yaml, every app in dev/test/prod (test one
    version ahead of prod), the ERP readiness file, and filler files up to `files` in all."""
    config = [CONFIG_HEAD]
    out = {}
    for index in range(apps):
        app = app_name(index)
        config.append(f"  {app}:\n    image: registry.example.com/shop/{app}\n    environments:\n")
        for env in ["dev", "test", "prod"]:
            path = f"envs/{env}/{app}/values.yaml"
            config.append(f"      {env}: {{ file: {path}, helm: {{ tag_path: image.tag, digest_path: image.digest }} }}\n")
            # app-0001 reaches for test's secret from prod: secret-scope denies it.
            secret_env = "test" if (index == 1 and env == "prod") else env
            out[path] = values(app, env, "1.4.1" if env == "prod" else "1.4.2", secret_env)
    config.append(POLICIES)
    out["tollgate.yaml"] = "".join(config)
    out["envs/prod/erp/readiness.yaml"] = READINESS
    for index in range(max(0, files - len(out))):
        out[f"filler/{index // 1000:03d}/{index:06d}.yaml"] = f"filler: {index}\n"
    return out


def fast_import(repo, files, commits):
    """One commit with `files`, then `commits - 1` commits changing filler/history.txt, dated
    one minute apart from 2025-01-01, on refs/heads/main."""
    start = 1_735_689_600
    chunks = []
    add = chunks.append
    message = b"initial state\n"
    add(b"commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata %d\n%s" % (start, len(message), message))
    for path, text in files.items():
        data = text.encode()
        add(b"M 644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
    for index in range(1, commits):
        message = b"history %d\n" % index
        data = b"%d\n" % index
        add(b"commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata %d\n%s" % (start + 60 * index, len(message), message))
        add(b"M 644 inline filler/history.txt\ndata %d\n%s\n" % (len(data), data))
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=b"".join(chunks), check=True)


def branch_tip(path):
    run = subprocess.run(["git", "-C", str(path), "rev-parse", "-q", "--verify", "refs/heads/main"], capture_output=True, text=True)
    return run.stdout.strip()


def make_repo(path, *, apps, files, commits, checkout, tollgate, cache):
    # Beside the objects, never in a working tree (where `git status` would show it). It names
    # the generator and the tip it left: a repository an earlier run promoted into (P4) has
    # grown by those commits and records, and is generated again so that runs compare.
    stamp = path / (".git" if checkout else ".") / "bench-generation"
    if stamp.exists() and stamp.read_text() == f"{GENERATION}\n{branch_tip(path)}":
        return
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"] + ([] if checkout else ["--bare"]) + [str(path)], check=True)
    git = ["git", "-C", str(path), "-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    fast_import(path, repo_files(apps, files), commits)
    if checkout:
        subprocess.run(git + ["reset", "--hard", "-q", "main"], check=True)
        subprocess.run(git + ["config", "user.name", "Bench"], check=True)
        subprocess.run(git + ["config", "user.email", "bench@example.com"], check=True)
    # Real promotions near the tip: app-0000 1.5.0 into dev, then test (what a prod plan reads).
    base = [tollgate, "--cache-dir", str(cache), "--repo", str(path)]
    for args in (["promote", "app-0000", "--to", "dev", "--version", "1.5.0", "--digest", NEW_DIGEST, "--actor", "alice"],
                 ["promote", "app-0000", "--to", "test", "--actor", "alice"]):
        subprocess.run(base + args, check=True, stdout=subprocess.DEVNULL)
    stamp.write_text(f"{GENERATION}\n{branch_tip(path)}")


def run_once(command, cwd=None, stdin_path=None):
    """Wall time (s), peak RSS (KiB) and CPU time (s, user and system, every thread) of one run;
    the exit code must be 0 or 1."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if stdin_path:
        stdin.close()
    if process.returncode not in (0, 1):
        sys.exit(f"bench: {' '.join(map(str, command))} exited {process.returncode}: {stderr}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def peak_rss_kib(command):
    """Peak RSS (KiB) of one run of `command`, started by /usr/bin/time rather than by this
    process: a child forked (or vforked) from Python keeps Python's own peak RSS, tens of MiB
    once the repositories are generated, across exec, and `ru_maxrss` reports it as the child's."""
    with tempfile.NamedTemporaryFile(mode="r") as report:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name] + [str(part) for part in command],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return int(report.read().split()[-1])


def paired(runs, first, second):
    """Run two setups alternately (ABBA...) `runs` times; medians and the median paired ratio."""
    a, b, ratios, rss_a = [], [], [], []
    for index in range(runs):
        order = [(first, a), (second, b)] if index % 2 == 0 else [(second, b), (first, a)]
        for setup, times in order:
            elapsed, rss, _ = setup()
            times.append(elapsed)
            if setup is first:
                rss_a.append(rss)
        ratios.append(a[-1] / b[-1])
    return statistics.median(a), statistics.median(b), statistics.median(ratios), max(rss_a)


def plan_json(tollgate, cache, repo, args):
    run = subprocess.run([tollgate, "--cache-dir", str(cache), "--repo", str(repo), "plan"] + args + ["-o", "json"], capture_output=True, text=True)
    if run.returncode not in (0, 1):
        sys.exit(f"bench: tollgate plan {args} exited {run.returncode}: {run.stderr}")
    return json.loads(run.stdout)


def tollgate_verdicts(document):
    verdicts = {}
    for policy in document["policies"]:
        name = policy.get("plugin", "").removeprefix("builtin:")
        verdicts[name] = "allow" if policy.get("evaluation", {}).get("decision") == "allow" else "deny"
    return verdicts


def regorus_input(document, repo, path):
    transition = dict(document["transition"])
    at = transition["requested_at"]
    if isinstance(at, str):
        from datetime import datetime
        transition["requested_at"] = int(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp())
    for approval in transition.get("approvals", []):
        if isinstance(approval.get("at"), str):
            from datetime import datetime
            approval["at"] = int(datetime.fromisoformat(approval["at"].replace("Z", "+00:00")).timestamp())
        elif approval.get("at") is None:
            approval.pop("at", None)
    readiness = subprocess.run(["git", "-C", str(repo), "show", "main:envs/prod/erp/readiness.yaml"], capture_output=True, text=True, check=True).stdout
    path.write_text(json.dumps({"transition": transition, "files": {"envs/prod/erp/readiness.yaml": readiness}}))


def regorus_verdicts(regorus, rego, input_path):
    run = subprocess.run([regorus, "eval", "-d", str(rego), "-i", str(input_path), "data.tollgate.bench.verdicts"], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"bench: regorus failed: {run.stderr}{run.stdout}")
    return json.loads(run.stdout)["result"][0]["expressions"][0]["value"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tollgate", required=True)
    parser.add_argument("--regorus", required=True)
    parser.add_argument("--regorus-lib", required=True)
    parser.add_argument("--rego", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--decision-us", type=float, default=float("nan"))
    parser.add_argument("--decision-plain-us", type=float, default=float("nan"))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--serve-requests", type=int, default=2000)
    options = parser.parse_args()
    work = Path(options.work)
    work.mkdir(parents=True, exist_ok=True)
    tollgate, regorus, rego, runs = options.tollgate, options.regorus, Path(options.rego), options.runs
    cache = work / "compile-cache"

    started = time.perf_counter()
    repos = {
        "small": dict(apps=2, files=100, commits=100, checkout=False),
        "long-history": dict(apps=2, files=100, commits=100_000, checkout=False),
        "checkout-100": dict(apps=2, files=100, commits=100, checkout=True),
        "checkout-100k": dict(apps=2, files=100_000, commits=100, checkout=True),
        "apps-1000": dict(apps=1_000, files=3_100, commits=100, checkout=False),
    }
    for name, shape in repos.items():
        make_repo(work / name, tollgate=tollgate, cache=cache, **shape)
    print(f"repositories ready in {time.perf_counter() - started:.1f} s ({work})", file=sys.stderr)
    small, long_history = work / "small", work / "long-history"

    # Same verdicts on the same inputs, per policy, across scenarios that each policy decides.
    scenarios = [
        ("allowed", ["app-0000", "--to", "prod", "--approval", "bob", "--approval", "dana", "--at", IN_WINDOW]),
        ("too few approvals", ["app-0000", "--to", "prod", "--approval", "bob", "--at", IN_WINDOW]),
        ("outside the window", ["app-0000", "--to", "prod", "--approval", "bob", "--approval", "dana", "--at", FRIDAY_EVENING]),
        ("ERP maintenance", ["app-0000", "--to", "prod", "--approval", "bob", "--approval", "dana", "--at", IN_MAINTENANCE]),
        ("foreign secret", ["app-0001", "--to", "prod", "--approval", "bob", "--approval", "dana", "--at", IN_WINDOW]),
        ("self-approval", ["app-0000", "--to", "prod", "--actor", "bob", "--approval", "bob", "--approval", "dana", "--at", IN_WINDOW]),
    ]
    input_path = work / "input.json"
    for label, args in scenarios:
        if "--actor" not in args:
            args = args + ["--actor", "alice"]
        document = plan_json(tollgate, cache, small, args)
        ours = tollgate_verdicts(document)
        regorus_input(document, small, input_path)
        theirs = regorus_verdicts(regorus, rego, input_path)
        if len(ours) != 4 or ours != theirs:
            sys.exit(f"bench: verdicts differ on '{label}': tollgate {ours}, regorus {theirs}")
        print(f"same verdicts on '{label}': {ours}", file=sys.stderr)
    # The input P1 measures regorus on: the allowed scenario.
    plan_args = scenarios[0][1] + ["--actor", "alice"]
    regorus_input(plan_json(tollgate, cache, small, plan_args), small, input_path)

    def plan_command(repo, cache_dir=None):
        return [tollgate, "--cache-dir", str(cache_dir or cache), "--repo", str(repo), "plan"] + plan_args

    def tollgate_plan(repo, cache_dir=None):
        return lambda: run_once(plan_command(repo, cache_dir))

    regorus_run = lambda: run_once([regorus, "eval", "-d", str(rego), "-i", str(input_path), "data.tollgate.bench.verdicts"])
    rows = []

    p1 = paired(runs, tollgate_plan(small), regorus_run)
    rows.append(("P1", "whole-process plan, 4 policies, warm", ms(p1[0]), f"regorus CLI {ms(p1[1])}", p1[2], "<= 1.0x",
                 f"peak RSS {peak_rss_kib(plan_command(small)) / 1024:.1f} MiB (<= 16)"))

    # P2: one in-process decision. regorus as a library vs tollgate's in-process plan+gate,
    # measured as the marginal cost of a plan in one plan-batch process.
    if Path(options.regorus_lib).is_file():
        lib = subprocess.run([options.regorus_lib, str(rego), str(input_path)], capture_output=True, text=True, check=True)
        regorus_us = float(lib.stdout.split()[0])
    else:
        print(f"bench: {options.regorus_lib} is not built; P2 has no reference", file=sys.stderr)
        regorus_us = float("nan")
    batch_one, batch_many = work / "batch-1.txt", work / "batch-201.txt"
    batch_one.write_text("app-0000 prod\n")
    batch_many.write_text("app-0000 prod\n" * 201)
    # On one thread (--jobs 1): the cost of one plan, not of a batch shared among the cores (P5).
    batch = lambda path: lambda: run_once([tollgate, "--cache-dir", str(cache), "--repo", str(small), "plan-batch", str(path), "--jobs", "1",
                                            "--actor", "alice", "--approval", "bob", "--approval", "dana", "--at", IN_WINDOW])
    rows.append(("P2", "one decision in process (4 policies, fresh instances)", f"{options.decision_us:.0f} µs", f"regorus library {regorus_us:.0f} µs",
                 options.decision_us / regorus_us, "<= 150 µs",
                 f"tollgate: cargo bench --bench decision, run before the table; serve --preinitialise's (plain instances, plan-batch's and serve's: {options.decision_plain_us:.0f} µs)"))
    p2 = paired(max(5, runs // 2), batch(batch_many), batch(batch_one))
    per_decision_us = (p2[0] - p2[1]) / 200 * 1e6
    rows.append(("P2", "  same with planning (plan + 4 policies)", f"{per_decision_us:.0f} µs", f"regorus library {regorus_us:.0f} µs",
                 per_decision_us / regorus_us, "", "tollgate: marginal plan in plan-batch"))

    # P3: cold start, an empty compile cache each run, against a warm plan.
    def cold():
        fresh = Path(tempfile.mkdtemp(prefix="tollgate-cold-", dir=work))
        try:
            return tollgate_plan(small, fresh)()
        finally:
            shutil.rmtree(fresh)

    p3 = paired(max(3, runs // 2), cold, tollgate_plan(small))
    fresh = Path(tempfile.mkdtemp(prefix="tollgate-cold-", dir=work))
    cold_rss = peak_rss_kib(plan_command(small, fresh))
    shutil.rmtree(fresh)
    rows.append(("P3", "first plan, empty compile cache", ms(p3[0]), f"warm plan {ms(p3[1])}", p3[2], "<= 1.5x", f"peak RSS {cold_rss / 1024:.1f} MiB"))

    # P4: promote in a checkout of 100,000 files against 100 files, and against git add + commit.
    counter = {"value": 0}

    def promote(repo):
        def run():
            counter["value"] += 1
            return run_once([tollgate, "--cache-dir", str(cache), "--repo", str(repo), "promote", "app-0000", "--to", "dev",
                             "--version", f"2.0.{counter['value']}", "--digest", DIGEST, "--actor", "alice"])
        return run

    def git_commit(repo):
        def run():
            counter["value"] += 1
            (repo / "filler" / "note.txt").write_text(f"{counter['value']}\n")
            return run_once(["sh", "-c", "git add filler/note.txt && git commit -q -m note"], cwd=repo)
        return run

    big = work / "checkout-100k"
    p4 = paired(runs, promote(big), promote(work / "checkout-100"))
    p4git = paired(runs, promote(big), git_commit(big))
    rows.append(("P4", "promote in a checkout, 100,000 files", ms(p4[0]), f"100 files {ms(p4[1])}", p4[2], "<= 2.0x", ""))
    rows.append(("P4", "  same, against git add + commit there", ms(p4git[0]), f"git {ms(p4git[1])}", p4git[2], "<= 0.2x", ""))
    status = subprocess.run(["git", "-C", str(big), "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
    if status.strip():
        sys.exit(f"bench: the checkout is not clean after promoting:\n{status}")

    # P5: 1,000 application promotions planned in one process.
    apps = work / "apps-1000"
    train = work / "train.txt"
    train.write_text("".join(f"{app_name(index)} prod\n" for index in range(1_000)))
    batch_runs = [run_once([tollgate, "--cache-dir", str(cache), "--repo", str(apps), "plan-batch", str(train), "--actor", "alice",
                            "--approval", "bob", "--approval", "dana", "--at", IN_WINDOW]) for _ in range(max(3, runs // 5))]
    batch_times, batch_cpu = [run[0] for run in batch_runs], [run[2] for run in batch_runs]
    regorus_hundred = sum(regorus_run()[0] for _ in range(100))
    p5 = statistics.median(batch_times)
    rows.append(("P5", "1,000 plans in one process (plan-batch)", ms(p5), f"1,000 regorus runs {regorus_hundred * 10:.2f} s",
                 p5 / (regorus_hundred * 10), "<= 0.4 s", f"regorus: 100 runs x 10; CPU {ms(statistics.median(batch_cpu))} (every thread)"))

    # P6: plan with 100,000 commits of history against 100.
    p6 = paired(runs, tollgate_plan(long_history), tollgate_plan(small))
    rows.append(("P6", "plan with 100,000 commits of history", ms(p6[0]), f"100 commits {ms(p6[1])}", p6[2], "<= 1.2x", ""))

    # S: tollgate serve under load (issue 22), POST /v1/plan with the four policies at 200/s.
    load = subprocess.run([sys.executable, str(Path(__file__).with_name("serve_load.py")), "--tollgate", tollgate,
                           "--requests", str(options.serve_requests), "--rate", "200"], capture_output=True, text=True, check=True)
    figures = next(line.split()[1:] for line in load.stdout.splitlines() if line.startswith("serve-load-figures "))
    median_ms, p99_ms, rss_start, rss_end, answered, python_median_ms = (float(value) for value in figures)
    rows.append(("S", f"serve: POST /v1/plan at 200/s, median of {answered:.0f}", f"{median_ms:.2f} ms", "goal 1 ms", median_ms, "<= 1 ms",
                 f"compiled client; the Python client's median {python_median_ms:.2f} ms; RSS {rss_start:.1f} -> {rss_end:.1f} MiB"))
    rows.append(("S", "  same, p99", f"{p99_ms:.2f} ms", "goal 5 ms", p99_ms / 5, "<= 5 ms", "ratio: p99 / 5 ms"))

    print(f"\n{runs} paired runs each (interleaved); medians; ratio = median of the paired ratios\n")
    print("| target | what | tollgate | reference | ratio | goal | note |")
    print("|---|---|---|---|---|---|---|")
    for target, what, ours, reference, ratio, goal, note in rows:
        print(f"| {target} | {what} | {ours} | {reference} | {ratio:.2f}x | {goal} | {note} |")


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    main()
