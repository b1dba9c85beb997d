#!/usr/bin/env python3
"""bench/serve-load's driver: start `tollgate serve` on a generated repository (loopback, port 0),
send POST /v1/plan (shop-api into prod, the four standard policies, allowed) at a fixed rate
from a bounded open-loop generator, and print the latency median and p99 and the server's
resident memory over the run.

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


def run(host, port, requests, rate, workers):
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
            connection.request("POST", "/v1/plan", body=BODY, headers={"content-type": "application/json"})
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
    args = parser.parse_args()

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
                more, codes = run(host, port, count, args.rate, args.workers)
                latencies.extend(more)
                for code, seen in codes.items():
                    statuses[code] = statuses.get(code, 0) + seen
                done += count
                samples.append((done, rss_kib(server.pid), threads(server.pid)))
            cpu_per_request = (cpu_seconds(server.pid) - cpu_start) / args.requests
        finally:
            server.terminate()
            server.wait(timeout=60)
    latencies.sort()
    median = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"requests {len(latencies)} at {args.rate:.0f}/s, answers {dict(sorted(statuses.items()))}")
    print(f"latency median {median:.2f} ms, p99 {p99:.2f} ms")
    print(f"server CPU per request {cpu_per_request * 1e6:.0f} µs (user and system, every thread)")
    print(f"server RSS after warm-up {rss_start / 1024:.1f} MiB; after each chunk: "
          + ", ".join(f"{count}: {kib / 1024:.1f}" for count, kib, _ in samples) + " MiB")
    print(f"server threads after warm-up {threads_start}; after each chunk: "
          + ", ".join(f"{count}: {alive}" for count, _, alive in samples))
    # One line for bench/compare to read.
    print(f"serve-load-figures {median:.3f} {p99:.3f} {rss_start / 1024:.1f} {samples[-1][1] / 1024:.1f} {len(latencies)}")


if __name__ == "__main__":
    main()
