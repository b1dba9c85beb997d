#!/usr/bin/env python3
"""bench/serve-load's driver: start `tollgate serve` on a generated repository (loopback, port 0),
send POST /v1/plan (shop-api into prod, the four standard policies, allowed) at a fixed rate
from a bounded open-loop generator, and print the latency median and p99 and the server's
resident memory over the run.

The generator is compiled (host/benches/serve_load.rs, built here with cargo): this script's
own Python client, which measured until round five, spends about 0.35 ms of its own in every
request. It still runs once beside it (`python client` line), and both clients' `GET /healthz`
medians are printed as their floors, so the two can be compared.

Called by bench/serve-load; every request goes to 127.0.0.1 and the run stops by itself after
--requests requests.
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BODY = json.dumps({
    "app": "shop-api",
    "to": "prod",
    "actor": "alice",
    "approvals": ["bob", "dana"],
    # Tuesday morning in Berlin: inside prod's change window, outside ERP maintenance.
    "at": "2026-01-13T10:00:00+01:00",
}).encode()


CONFIG = """branch: main
environments: [dev, test, prod]
applications:
  shop-api:
    image: registry.example.com/shop/api
    environments:
      dev:  { file: envs/dev/shop-api/values.yaml,  helm: { tag_path: image.tag, digest_path: image.digest } }
      test: { file: envs/test/shop-api/values.yaml, helm: { tag_path: image.tag, digest_path: image.digest } }
      prod: { file: envs/prod/shop-api/values.yaml, helm: { tag_path: image.tag, digest_path: image.digest } }
policies:
  - plugin: builtin:approval-count
    environments: [prod]
    config: { environments: { prod: { required: 2, groups: { sre: [bob, dana] }, group_minimums: { sre: 1 }, max_age: 24h } } }
  - plugin: builtin:change-window
    environments: [prod]
    config:
      environments:
        prod: { timezone: Europe/Berlin, windows: [{ days: [mon, tue, wed, thu], start: "09:00", end: "16:00" }] }
  - plugin: builtin:secret-scope
    config: { environments: { dev: { allow: ["k8s:dev-*"] }, test: { allow: ["k8s:test-*"] }, prod: { allow: ["k8s:prod-*"] } } }
  - plugin: builtin:erp-readiness
    environments: [prod]
    config: { environments: { prod: { readiness_file: "envs/{env}/erp/readiness.yaml" } } }
"""
DIGEST = "sha256:" + "ab" * 32


def values(env):
    return (f"image:\n  repository: registry.example.com/shop/api\n  tag: \"1.4.1\"\n  digest: {DIGEST}\n"
            f"env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef: {{ name: {env}-db, key: password }}\n")


def make_repo(tollgate, repo, cache):
    """shop-api 1.4.1 everywhere, then 1.4.2 promoted into dev and test: prod is next."""
    files = {"tollgate.yaml": CONFIG, "envs/prod/erp/readiness.yaml": "status: ready\n"}
    files.update({f"envs/{env}/shop-api/values.yaml": values(env) for env in ["dev", "test", "prod"]})
    for path, text in files.items():
        Path(repo, path).parent.mkdir(parents=True, exist_ok=True)
        Path(repo, path).write_text(text)
    git = lambda *args: subprocess.run(["git", "-C", repo, *args], check=True, stdout=subprocess.DEVNULL)
    git("init", "--quiet", "--initial-branch", "main")
    git("config", "user.name", "bench")
    git("config", "user.email", "bench@example.com")
    git("add", "-A")
    git("commit", "--quiet", "-m", "desired state")
    new_digest = "sha256:" + "cd" * 32
    for args in (["--to", "dev", "--version", "1.4.2", "--digest", new_digest], ["--to", "test"]):
        subprocess.run([tollgate, "--cache-dir", cache, "--repo", repo, "promote", "shop-api", *args, "--actor", "alice"], check=True, stdout=subprocess.DEVNULL)


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """The server's CPU time so far, user and system, all threads (less sensitive to the
    machine's load than latency: other processes slow a request but do not add to it)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads(pid):
    """The server's threads (policy workers and blocking threads come and go with the load)."""
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def start_server(tollgate, repo, cache, max_in_flight):
    server = subprocess.Popen(
        [tollgate, "--cache-dir", cache, "--repo", repo, "serve", "--listen", "127.0.0.1:0", "--max-in-flight", str(max_in_flight)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline().strip()
    prefix = "tollgate: listening on http://"
    if not line.startswith(prefix):
        server.kill()
        sys.exit(f"serve-load: the server did not start: {line!r}")
    host, port = line[len(prefix):].rsplit(":", 1)
    return server, host, int(port)


def build_generator():
    """The compiled load generator (cargo bench --no-run, an optimised build); its path."""
    manifest = Path(__file__).resolve().parent.parent / "Cargo.toml"
    built = subprocess.run(["cargo", "bench", "--quiet", "--no-run", "--locked", "-p", "tollgate", "--bench", "serve_load",
                            "--message-format", "json", "--manifest-path", str(manifest)], capture_output=True, text=True, check=True)
    for line in built.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "serve_load" and message.get("executable"):
            return message["executable"]
    sys.exit("serve-load: cargo built no serve_load generator")


def run_compiled(generator, host, port, requests, rate, workers, path="/v1/plan"):
    """`run`, by the compiled generator (the same open loop); POST BODY to `path`, or GET
    /healthz."""
    with tempfile.NamedTemporaryFile(prefix="tollgate-serve-load-body-") as body:
        body.write(BODY)
        body.flush()
        out = subprocess.run([generator, f"http://{host}:{port}{path}", str(requests), str(rate), str(workers), body.name,
                              *(["--get"] if path == "/healthz" else [])], capture_output=True, text=True, check=True).stdout
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    statuses = {int(code): int(count) for code, count in (item.split("=") for item in lines.get("statuses", "").split())}
    return [float(value) / 1e6 for value in lines.get("latencies-us", "").split()], statuses


def run(host, port, requests, rate, workers, path="/v1/plan"):
    """Open loop: request i is due at i / rate seconds; `workers` threads with one persistent
    connection each take the due requests in order. Latency counts from when a request was due,
    so a server that falls behind shows it (no coordinated omission)."""
    latencies = [None] * requests
    statuses = {}
    next_index = [0]
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def worker():
        connection = http.client.HTTPConnection(host, port, timeout=30)
        while True:
            with lock:
                index = next_index[0]
                if index >= requests:
                    return
                next_index[0] += 1
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if path == "/healthz":
                connection.request("GET", path)
            else:
                connection.request("POST", path, body=BODY, headers={"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            latencies[index] = time.perf_counter() - due
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [latency for latency in latencies if latency is not None], statuses


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tollgate", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--python-client", action="store_true", help="measure with the Python client only (no cargo)")
    parser.add_argument("--generator", help="the compiled generator, already built (else built here)")
    args = parser.parse_args()
    generator = None if args.python_client else args.generator or build_generator()
    measure = (lambda *a, **k: run_compiled(generator, *a, **k)) if generator else run

    with tempfile.TemporaryDirectory(prefix="tollgate-serve-load-") as work:
        repo = f"{work}/repo"
        cache = f"{work}/cache"
        make_repo(args.tollgate, repo, cache)
        server, host, port = start_server(args.tollgate, repo, cache, args.workers)
        try:
            # Warm up (the first requests load the plugins), and check the answer is the allow.
            connection = http.client.HTTPConnection(host, port, timeout=60)
            connection.request("POST", "/v1/plan", body=BODY, headers={"content-type": "application/json"})
            answer = json.loads(connection.getresponse().read())
            if answer.get("decision") != "allow" or len(answer.get("policies", [])) != 4:
                sys.exit(f"serve-load: expected an allow by four policies, got {answer.get('summary')!r}")
            run(host, port, 50, args.rate, args.workers)
            rss_start = rss_kib(server.pid)
            cpu_start = cpu_seconds(server.pid)
            threads_start = threads(server.pid)
            samples = []
            done = 0
            latencies = []
            statuses = {}
            chunk = max(1000, args.requests // 20)
            while done < args.requests:
                count = min(chunk, args.requests - done)
                more, codes = measure(host, port, count, args.rate, args.workers)
                latencies.extend(more)
                for code, seen in codes.items():
                    statuses[code] = statuses.get(code, 0) + seen
                done += count
                samples.append((done, rss_kib(server.pid), threads(server.pid)))
            cpu_per_request = (cpu_seconds(server.pid) - cpu_start) / args.requests
            # Beside it: the Python client on the same server, and each client's floor (an
            # answer that does no work).
            compared = {}
            if generator:
                python, _ = run(host, port, min(args.requests, 2000), args.rate, args.workers)
                compared["python client"] = python
                compared["compiled floor (GET /healthz)"] = run_compiled(generator, host, port, 1000, args.rate, args.workers, "/healthz")[0]
            compared["python floor (GET /healthz)"] = run(host, port, 1000, args.rate, args.workers, "/healthz")[0]
        finally:
            server.terminate()
            server.wait(timeout=60)
    latencies.sort()
    median = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"requests {len(latencies)} at {args.rate:.0f}/s, answers {dict(sorted(statuses.items()))}, "
          + ("compiled client" if generator else "python client"))
    print(f"latency median {median:.2f} ms, p99 {p99:.2f} ms")
    for what, others in compared.items():
        others.sort()
        print(f"  {what}: median {statistics.median(others) * 1000:.2f} ms, p99 {others[int(len(others) * 0.99)] * 1000:.2f} ms ({len(others)} requests)")
    print(f"server CPU per request {cpu_per_request * 1e6:.0f} µs (user and system, every thread)")
    print(f"server RSS after warm-up {rss_start / 1024:.1f} MiB; after each chunk: "
          + ", ".join(f"{count}: {kib / 1024:.1f}" for count, kib, _ in samples) + " MiB")
    print(f"server threads after warm-up {threads_start}; after each chunk: "
          + ", ".join(f"{count}: {alive}" for count, _, alive in samples))
    # One line for bench/compare to read.
    python = sorted(compared.get("python client", []))
    python_median = statistics.median(python) * 1000 if python else float("nan")
    print(f"serve-load-figures {median:.3f} {p99:.3f} {rss_start / 1024:.1f} {samples[-1][1] / 1024:.1f} {len(latencies)} {python_median:.3f}")


if __name__ == "__main__":
    main()
