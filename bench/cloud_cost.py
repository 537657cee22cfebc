"""The cloud's cost per operation (bench/cloud_cost.sh): DynamoDB calls and capacity
units per API operation and task step, and Step Functions state transitions per run.

CRAT's own server (`crat`, the same routers, services and DynamoDB adapter the Lambda
functions run) on `CRAT_STORE=dynamodb`, its SDK pointed at bench/dynamo_meter.py, which
forwards to moto and records every call. The task steps run in the embedded executor
(the same task handlers); the meter labels each call with the state running. A
deploy-test runs against the development peers (package server, test server double).

Usage: python bench/cloud_cost.py CRAT_BINARY  (prints the tables; --json FILE also
writes the figures)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
JOB = "CDN_CORE"
PACKAGE_PATH = "CDN/pass/20260101-master-cost/el7"
PACKAGE_FILE = "cds-1.0.0-cost.x86_64.tar.gz"
ADMIN_PASSWORD = "cloud-cost-admin-password"
# The default poll interval, scaled by CRAT_TIME_SCALE for the run measured here.
POLL_INTERVAL_S = 60
TIME_SCALE = 0.02  # a 60 s wait lasts 1.2 s
TEST_SECONDS = 8.0  # the test server double's test phase: a few poll cycles
THREE_HOURS_S = 3 * 3600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Procs:
    def __init__(self, log_dir: str):
        self.procs: list[subprocess.Popen] = []
        self.log_dir = log_dir

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(os.path.join(self.log_dir, f"{name}.log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.procs.append(p)
        return p

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_line(path: str, needle: str, proc: subprocess.Popen, seconds: float = 60) -> str:
    end = time.time() + seconds
    while time.time() < end:
        if os.path.exists(path):
            for line in open(path):
                if needle in line:
                    return line.strip()
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"cloud_cost: {path} never said {needle!r}:\n{open(path).read()[-2000:]}")


def http(method: str, url: str, body=None, token: str | None = None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def make_package(root: str) -> None:
    folder = os.path.join(root, PACKAGE_PATH)
    os.makedirs(folder)
    top = PACKAGE_FILE[: -len(".x86_64.tar.gz")]
    path = os.path.join(folder, PACKAGE_FILE)
    with tarfile.open(path, "w:gz") as tar:
        for member, data in {f"{top}/VERSION": b"1.0.0-cost\n", f"{top}/bin/cds": b"#!/bin/sh\n"}.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    with open(path + ".sha256", "w") as f:
        f.write(f"{digest}  {PACKAGE_FILE}\n")


class Bench:
    def __init__(self, crat_bin: str, work: str):
        self.work = work
        self.procs = Procs(work)
        self.crat_bin = crat_bin

    def up(self) -> None:
        py = sys.executable
        moto_port, meter_port, crat_port = free_port(), free_port(), free_port()
        moto = self.procs.start("moto", [py, "scripts/moto_server.py", "127.0.0.1", str(moto_port)])
        self.meter = f"http://127.0.0.1:{meter_port}"
        meter = self.procs.start("meter", [py, os.path.join(HERE, "dynamo_meter.py"), "--port", str(meter_port),
                                           "--upstream", f"http://127.0.0.1:{moto_port}"])
        pkg_root = os.path.join(self.work, "packages")
        make_package(pkg_root)
        pkg = self.procs.start("package_server", [py, "devpeers/package_server.py", "--root", pkg_root,
                                                  "--host", "127.0.0.1", "--port", "0"])
        ts = self.procs.start("test_server", [py, "devpeers/test_server.py", "--host", "127.0.0.1", "--port", "0",
                                              "--deploy-seconds", "0.5", "--test-seconds", str(TEST_SECONDS)])
        wait_line(os.path.join(self.work, "meter.log"), "dynamo meter on", meter)
        self.pkg_url = wait_line(os.path.join(self.work, "package_server.log"), " on http://", pkg).split()[-1]
        self.ts_url = wait_line(os.path.join(self.work, "test_server.log"), " on http://", ts).split()[-1]
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{moto_port}/moto-api/", timeout=2)
                break
            except OSError:
                if moto.poll() is not None:
                    raise SystemExit("cloud_cost: moto exited; see its log")
                time.sleep(0.2)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRAT_", "EMAIL_"))}
        env.update({
            "CRAT_STORE": "dynamodb", "DYNAMODB_TABLE": "crat-cloud-cost", "CRAT_CREATE_TABLE": "1",
            "AWS_ENDPOINT_URL": self.meter, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
            "JWT_SECRET": "cloud-cost-jwt-secret-that-is-long-enough-0123456789", "ADMIN_PASSWD": ADMIN_PASSWORD,
            "CRAT_DATA_DIR": os.path.join(self.work, "data"), "CRAT_BIND": "127.0.0.1", "PORT": str(crat_port),
            "CRAT_TIME_SCALE": str(TIME_SCALE), "CRAT_WEB_DIR": os.path.join(self.work, "no-site"),
        })
        env.pop("WEBHOOK_TOKEN", None)
        env.pop("STATE_MACHINE_ARN", None)
        crat = self.procs.start("crat", [self.crat_bin], env=env)
        wait_line(os.path.join(self.work, "crat.log"), "CRAT is running", crat, 120)
        self.crat = f"http://127.0.0.1:{crat_port}"

    def api(self, method: str, path: str, body=None, token=None, want=(200,)):
        status, answer = http(method, self.crat + path, body, token)
        if status not in want:
            raise SystemExit(f"cloud_cost: {method} {path} answered {status}: {answer}")
        return answer

    def meter_reset(self, label: str) -> None:
        http("POST", self.meter + "/_meter/reset", {})
        http("POST", self.meter + "/_meter/label", {"label": label})

    def meter_log(self) -> dict:
        return http("GET", self.meter + "/_meter/log")[1]

    def measure(self, label: str, method: str, path: str, body=None, token=None, want=(200,)):
        """One request's DynamoDB calls (everything recorded while it ran)."""
        self.meter_reset(label)
        answer = self.api(method, path, body, token, want)
        time.sleep(0.2)  # nothing else runs meanwhile; let a late call land in the log
        calls = [c for c in self.meter_log()["log"] if c["label"] == label]
        http("POST", self.meter + "/_meter/label", {"label": "idle"})
        return answer, calls

    def seed(self) -> None:
        self.admin = self.api("POST", "/api/v1/auth/login", {"email": "admin@example.com",
                                                              "password": ADMIN_PASSWORD})["token"]
        self.api("PUT", "/api/v1/settings", {"package_download_base_url": self.pkg_url + "/",
                                             "external_test_server_url": self.ts_url,
                                             "poll_interval_seconds": POLL_INTERVAL_S}, self.admin)
        self.set_id = self.api("POST", "/api/v1/parameter-sets",
                               {"name": "cost", "description": "cloud cost", "params": {"install_dir": "/opt/cdn"}},
                               self.admin, want=(200, 201))["id"]
        self.item_id = self.api("POST", "/api/v1/test-items",
                                {"name": "cds", "job_name": JOB, "parameter_set_id": self.set_id,
                                 "description": "cloud cost", "enabled": True}, self.admin, want=(200, 201))["id"]
        self.webhook(1)

    def webhook(self, number: int, label: str | None = None):
        body = {"BUILD_USER": "JenkinsUser", "JOB_NAME": JOB, "PACKAGE_PATH": PACKAGE_PATH,
                "BUILD_NUMBER": str(number)}
        if label is None:
            return self.api("POST", "/api/v1/builds", body, want=(200, 201))
        return self.measure(label, "POST", "/api/v1/builds", body, want=(200, 201))

    def run(self) -> tuple[list, dict]:
        rows = []

        def row(name, calls):
            rows.append((name, calls))

        time.sleep(1.0)  # the schedules' first tick (they run once at start)
        row("schedules, one tick each (sweeper + auto-sync)",
            [c for c in self.meter_log()["log"] if c["kind"] != "other" and c["label"] == "idle"])
        self.seed()
        build, c = self.webhook(2, "w1")
        row("webhook, new build of a known job", c)
        body = {"BUILD_USER": "JenkinsUser", "JOB_NAME": "CDN_EDGE", "PACKAGE_PATH": PACKAGE_PATH,
                "BUILD_NUMBER": "1"}
        row("webhook, first build of a new job", self.measure("w2", "POST", "/api/v1/builds", body,
                                                               want=(200, 201))[1])
        row("webhook, repeat (same build again)", self.webhook(2, "w3")[1])
        answer, c = self.measure("lu", "POST", "/api/v1/auth/login", {"email": "user@example.com"})
        user = answer["token"]
        row("login (user)", c)
        row("login (admin)", self.measure("la", "POST", "/api/v1/auth/login",
                                          {"email": "admin@example.com", "password": ADMIN_PASSWORD})[1])
        row("GET /builds?job_name=&limit=20 (user)",
            self.measure("gb", "GET", f"/api/v1/builds?job_name={JOB}&limit=20", token=user)[1])
        row("GET /test-items (user)", self.measure("gt", "GET", "/api/v1/test-items", token=user)[1])
        row("GET /auth/me (user)", self.measure("gm", "GET", "/api/v1/auth/me", token=user)[1])

        # The deploy-test: the trigger request, then every state the executor runs.
        self.meter_reset("trigger")
        started = time.time()
        run = self.api("POST", f"/api/v1/test-items/{self.item_id}/deploy-test",
                       {"build_info_id": build["id"]}, user, want=(200, 201, 202))
        http("POST", self.meter + "/_meter/label", {"label": "idle"})
        while True:
            log = self.meter_log()
            if any(e["type"] in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted")
                   for e in log["events"]):
                break
            if time.time() - started > 300:
                raise SystemExit("cloud_cost: the deploy-test did not end within 300 s")
            time.sleep(0.5)
        time.sleep(0.5)
        log = self.meter_log()
        by_label = defaultdict(list)
        for c in log["log"]:
            by_label[c["label"]].append(c)
        row("trigger (POST /test-items/{id}/deploy-test)", by_label.pop("trigger", []))
        steps = {}
        for label in sorted(by_label, key=lambda l: min(i for i, c in enumerate(log["log"]) if c["label"] == l)):
            steps[label] = by_label[label]
        final = self.api("GET", f"/api/v1/deploy-test-runs/{run['id']}", token=user)
        return rows, {"steps": steps, "events": log["events"], "run": final}


def totals(calls: list) -> tuple[int, int, float, float]:
    reads = sum(1 for c in calls if c["kind"] == "read")
    writes = sum(1 for c in calls if c["kind"] == "write")
    return reads, writes, sum(c["rcu"] for c in calls), sum(c["wcu"] for c in calls)


def ops(calls: list) -> str:
    counted = defaultdict(int)
    for c in calls:
        counted[c["op"]] += 1
    return ", ".join(f"{n}× {op}" for op, n in counted.items())


def transitions(events: list) -> dict:
    entered = defaultdict(int)
    for e in events:
        if e["type"].endswith("StateEntered"):
            entered[e["state"]] += 1
    return dict(entered)


# Public on-demand prices, us-east-1, as read on 2026-12-02 (README "What it costs in the
# cloud" names the pages). Free tiers are left out.
PRICE_WRU = 0.625 / 1e6  # DynamoDB on-demand, per write request unit
PRICE_RRU = 0.125 / 1e6  # DynamoDB on-demand, per read request unit
PRICE_TRANSITION = 0.025 / 1000  # Step Functions Standard, per state transition
PRICE_LAMBDA_REQUEST = 0.20 / 1e6
PRICE_GB_S = 0.0000133334  # Lambda arm64 (the template's default architecture), per GB-second
PRICE_HTTP_API = 1.00 / 1e6  # API Gateway HTTP API, per request (assumed: the first 300 M a month)

# The month costed: builds, runs (each a 3-hour test), and per run a login and this many
# authenticated GETs (the site's lists and the run page it refreshes).
BUILDS, RUNS, GETS_PER_RUN = 100_000, 1_000, 50
# Lambda: memory from infra/template.yaml (256 MB, meta 128, download 1024) and durations
# ASSUMED (not measured here): API calls 30 ms, poll 100 ms, trigger 200 ms, download 20 s
# (a 1 GiB package), notify 1 s, finalize and a schedule tick 50 ms.
SWEEPS, SYNCS = 30 * 24 * 12, 30 * 24  # every 5 min, hourly


def monthly(by_name: dict, transitions_3h: float, polls: int) -> list[tuple[str, float, str]]:
    def units(name):
        f = by_name[name]
        return f["rcu"], f["wcu"]

    webhook = units("webhook, new build of a known job")
    login, get = units("login (user)"), units("GET /builds?job_name=&limit=20 (user)")
    schedule = units("schedules, one tick each (sweeper + auto-sync)")
    run_units = [units("trigger (POST /test-items/{id}/deploy-test)"), units("task Download"),
                 units("task Trigger"), units("task Poll (first: monitoring begins)"),
                 units("task Finalize"), units("task Notify"), units("task Poll (the last: the result)")]
    later = by_name[next(n for n in by_name if n.startswith("task Poll (each later"))]
    run_rcu = sum(u[0] for u in run_units) + (polls - 2) * later["rcu"] + login[0] + GETS_PER_RUN * get[0]
    run_wcu = sum(u[1] for u in run_units) + (polls - 2) * later["wcu"] + login[1] + GETS_PER_RUN * get[1]
    rru = BUILDS * webhook[0] + RUNS * run_rcu + SWEEPS * schedule[0]
    wru = BUILDS * webhook[1] + RUNS * run_wcu + SWEEPS * schedule[1]
    http_requests = BUILDS + RUNS * (1 + 1 + GETS_PER_RUN)
    gb_s = (http_requests * 0.030 * 0.25
            + RUNS * (20 * 1.0 + 0.2 * 0.25 + polls * 0.1 * 0.25 + 0.05 * 0.25 + 1 * 0.25)
            + (SWEEPS + SYNCS) * 0.05 * 0.25)
    invocations = http_requests + RUNS * (4 + polls) + SWEEPS + SYNCS
    return [
        ("DynamoDB writes", wru * PRICE_WRU, f"{wru:,.0f} WRU"),
        ("DynamoDB reads", rru * PRICE_RRU, f"{rru:,.0f} RRU"),
        ("Step Functions", RUNS * transitions_3h * PRICE_TRANSITION,
         f"{RUNS * transitions_3h:,.0f} state transitions"),
        ("Lambda requests", invocations * PRICE_LAMBDA_REQUEST, f"{invocations:,.0f} invocations"),
        ("Lambda duration", gb_s * PRICE_GB_S, f"{gb_s:,.0f} GB-s (assumed durations)"),
        ("API Gateway", http_requests * PRICE_HTTP_API, f"{http_requests:,.0f} HTTP API requests"),
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("crat_bin")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    p.add_argument("--calls", action="store_true", help="also list every call (keys, units)")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="crat-cloud-cost-")
    bench = Bench(os.path.abspath(args.crat_bin), work)
    try:
        bench.up()
        rows, flow = bench.run()
    finally:
        bench.procs.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", work])
    executor_calls = flow["steps"].pop("executor", [])
    flow["steps"].pop("idle", None)
    step_rows = []
    seen = defaultdict(list)
    for label, calls in flow["steps"].items():
        seen[label.split("#")[0]].append(calls)
    for state, occurrences in seen.items():
        if state == "Poll" and len(occurrences) > 2:
            step_rows.append(("task Poll (first: monitoring begins)", occurrences[0]))
            step_rows.append((f"task Poll (each later one; mean of {len(occurrences) - 2})", None,
                              [totals(o) for o in occurrences[1:-1]]))
            step_rows.append(("task Poll (the last: the result)", occurrences[-1]))
        else:
            for i, o in enumerate(occurrences):
                if o:
                    step_rows.append((f"task {state}" + (f" #{i + 1}" if len(occurrences) > 1 else ""), o))

    print(f"{'operation':<46} {'reads':>5} {'writes':>6} {'RCU':>6} {'WCU':>6}  calls")
    figures = []
    for entry in rows + step_rows:
        if len(entry) == 3:
            name, _, many = entry
            r, w, rcu, wcu = (sum(x[i] for x in many) / len(many) for i in range(4))
            detail = "(varies by cycle)" if len(set(many)) > 1 else "same every cycle"
        else:
            name, calls = entry
            r, w, rcu, wcu = totals(calls)
            detail = ops(calls)
        figures.append({"operation": name, "reads": r, "writes": w, "rcu": rcu, "wcu": wcu})
        print(f"{name:<46} {r:>5g} {w:>6g} {rcu:>6g} {wcu:>6g}  {detail}")
        if args.calls and len(entry) == 2:
            for c in entry[1]:
                print(f"    {c['op']:<20} rcu {c['rcu']:<4g} wcu {c['wcu']:<4g} {' '.join(c['keys'])}")
    r, w, rcu, wcu = totals(executor_calls)
    print(f"(not in the cloud: the embedded executor's own records: {r} reads, {w} writes)")

    entered = transitions(flow["events"])
    cycles = entered.get("Poll", 0)
    per_cycle = {s: n / cycles for s, n in entered.items() if n == cycles} if cycles else {}
    fixed = sum(n for s, n in entered.items() if s not in per_cycle)
    per = sum(per_cycle.values())
    print()
    print(f"run {flow['run']['id']}: {flow['run']['status']}; Step Functions state transitions "
          f"(states entered): {sum(entered.values())} = {fixed} once + {cycles} poll cycles × {per:g} "
          f"({' + '.join(sorted(per_cycle))})")
    print("  per state: " + ", ".join(f"{s} {n}" for s, n in entered.items()))
    # The poll that first sees the test done ends the cycles: one cycle per interval of the
    # test's length, plus the first wait.
    cycles_3h = THREE_HOURS_S // POLL_INTERVAL_S
    total_3h = fixed + cycles_3h * per
    print(f"a 3-hour test at the default poll interval ({POLL_INTERVAL_S} s): {cycles_3h} poll cycles → "
          f"{fixed} + {cycles_3h} × {per:g} = {total_3h:g} state transitions")
    by_name = {f["operation"]: f for f in figures}
    # A 3-hour test: polls at 60 s, 120 s, ..., the 180th sees it done.
    costs = monthly(by_name, total_3h, cycles_3h)
    print()
    print(f"a month of {BUILDS:,} builds and {RUNS:,} runs (each a 3-hour test; per run 1 login and "
          f"{GETS_PER_RUN} authenticated GETs), us-east-1 on-demand:")
    for name, usd, what in costs:
        print(f"  {name:<16} ${usd:>8.2f}  {what}")
    print(f"  {'total':<16} ${sum(c[1] for c in costs):>8.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"operations": figures, "transitions": entered, "fixed": fixed, "per_cycle": per,
                       "cycles_3h": cycles_3h, "transitions_3h": total_3h,
                       "executor_calls": {"reads": r, "writes": w}}, f, indent=2)


if __name__ == "__main__":
    main()
