#!/usr/bin/env python3
"""A development double of the team's external test server (FastAPI in real life).

Python 3.11 standard library only.

    python3 devpeers/test_server.py [--host 127.0.0.1] [--port 0]
        [--deploy-seconds 2] [--test-seconds 3] [--pending-seconds 0.2]
        [--outcome completed|failed] [--state-file F] [--verbose]

The first stdout line is `test server on http://HOST:PORT` (flushed).

The real API (what CRAT calls):

* `POST /api/deploy_and_test` JSON object → 200 `{"task_id": "<uuid4>"}`.
  Not JSON → 400 `{"detail": "Invalid JSON body"}`; not an object, or `package_url` /
  `service_name` missing or not a non-empty string → 422 with a FastAPI-style
  `{"detail": [{"type", "loc", "msg", "input"}]}`. The body is recorded with the task.
* `GET /api/tasks/{task_id}` → `{"task_id", "status"}` where status follows the time
  since the task was created: `pending` for pending-seconds, `running:deploy` for
  deploy-seconds, `running:test` for test-seconds, then the outcome:
  `completed` adds `report_url` = `http://<Host header>/reports/<task_id>/`;
  `failed` adds `error` = `deploy failed: <reason>`.
  Unknown task → 404 `{"detail": "Task not found"}`.
  The durations, outcome and report content are fixed per task when it is created
  (from the control settings at that moment).
* `GET /reports/<task_id>/...` (only once that task is `completed`): an Allure-like
  report folder: `index.html` (also at `/reports/<id>/`) and, by `summary_format`:
    allure2 (default): `widgets/summary.json` exactly like Allure 2 writes it:
        {"reportName":"Allure Report","testRuns":[],"statistic":{"failed":1,"broken":1,
         "skipped":1,"passed":97,"unknown":0,"total":100},"time":{"start":...,"stop":...,
         "duration":...,"minDuration":0,"maxDuration":1,"sumDuration":1}}
    allure3: root `summary.json` {"name","stats":{total,passed?,failed?,...zero counts
        omitted},"status","duration","createdAt",...} and `widgets/statistic.json` (the
        same stats); no `widgets/summary.json`
    statistic: only `widgets/statistic.json` {"failed","broken","skipped","passed","unknown","total"}
    none: no summary file at all
* `GET /healthz` → {"status": "ok"}.

Test control API:

* `POST /_control` JSON, any subset of (unknown keys → 400); answers the whole control:
      deploy_seconds, test_seconds, pending_seconds   numbers ≥ 0 (tasks created afterwards)
      outcome            "completed" | "failed"
      error              the <reason> in "deploy failed: <reason>"
      statistic          {"passed":..,"failed":..,"broken":..,"skipped":..,"unknown":..}
                         counts for the default summary (total is computed if absent)
      summary            JSON published verbatim as the summary file instead of the
                         default (a JSON string value is served raw: use it for broken JSON);
                         null → back to the default
      summary_format     "allure2" | "allure3" | "statistic" | "none"
      cases              null (default: no case files, as before) | a list of scripted test
                         cases [{"name", "status": passed|failed|broken|skipped|unknown,
                         "full_name"?, "suite"?, "message"?, "duration_ms"?, "flaky"?}]
                         (at most 5000): with allure2, the report also has
                         `data/suites.json` (suite → leaves with name, uid, parentUid,
                         status, time, flaky, retriesCount, parameters) and
                         `data/test-cases/<uid>.json` (uid, name, fullName, historyId =
                         md5 of the full name, status, statusMessage, time), and the
                         summary's counts are the cases' unless `statistic` is set. The
                         full name defaults to "<suite>#<name>", the suite to
                         "tests.test_suite". A trigger body with a `testplan`
                         ({"version": "1.0", "tests": [{"selector"?, "id"?}]}) is honoured
                         as allure-pytest does: only the cases whose full name is a
                         selector or whose history id is an id are in that task's report
                         (an empty list: all of them).
      report_base_url    e.g. "http://other-host:9/r/" → report_url = that + task_id + "/"
                         (null → the Host-header default)
      trigger_fault, poll_fault, report_fault          null | "500" (or any "5xx"/"4xx" code)
                         | "timeout" | "garbage" | "refuse"
      trigger_fault_count, poll_fault_count, report_fault_count
                         null = until cleared; N = only the next N such requests fail,
                         then the fault clears itself
      timeout_seconds    how long "timeout" hangs (default 120)
  `GET /_control` → the same object.
* `GET /_tasks` → {"tasks": [{"task_id", "body", "created_at" (RFC 3339), "created_at_epoch",
  "status", "polls", "report_url"?, "error"?}, ...]} in creation order.
* `POST /_tasks/{task_id}` {"status": "completed"|"failed"|"pending"|"running:deploy"|
  "running:test", "error"?} pins that task's status from now on (null status unpins).
* `GET /_requests` → [{"method", "path", "status", "fault", "time"}, ...]; `DELETE /_requests` clears.
* `POST /_reset` → forgets every task and request, control back to the command-line defaults.

Fault semantics (trigger_fault hits POST /api/deploy_and_test, poll_fault hits
GET /api/tasks/..., report_fault hits GET /reports/...; the fault is applied before
the request is processed, so a faulted trigger creates no task):
* "500" (or another code): that status, body `Internal Server Error` (text/plain), like uvicorn.
* "timeout": no answer for timeout_seconds; if the client hangs up first, nothing is
  processed; if it is still there afterwards, the request is processed normally.
* "garbage": 200, `Content-Type: text/html`, a body that is not JSON.
* "refuse": the connection is closed at once with a TCP reset and no answer.

`--state-file F`: tasks and control are saved to F (JSON) on every change and loaded at
start, so a restarted double still knows its tasks (their clocks keep running).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATUSES = ("pending", "running:deploy", "running:test", "completed", "failed")
FORMATS = ("allure2", "allure3", "statistic", "none")
FAULT_KINDS = ("timeout", "garbage", "refuse")
DEFAULT_STATISTIC = {"failed": 1, "broken": 1, "skipped": 1, "passed": 97, "unknown": 0}
COUNT_KEYS = ("failed", "broken", "skipped", "passed", "unknown")


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_fault(value):
    if value is None:
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and (value in FAULT_KINDS or re.fullmatch(r"[1-5][0-9][0-9]", value)):
        return value
    raise ValueError(f"fault must be null, an HTTP status like \"500\", or one of {', '.join(FAULT_KINDS)}")


def check_nonneg(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("must be a number >= 0")
    return float(value)


def check_count(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be null or an integer >= 1")
    return value


def check_statistic(value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("must be an object of counts")
    out = {}
    for k, v in value.items():
        if k not in COUNT_KEYS + ("total",):
            raise ValueError(f"unknown count {k!r}")
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{k} must be an integer >= 0")
        out[k] = v
    return out


CASE_STATUSES = ("passed", "failed", "broken", "skipped", "unknown")
MAX_CASES = 5000


def check_cases(value):
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_CASES:
        raise ValueError(f"must be null or a list of at most {MAX_CASES} cases")
    out = []
    for i, c in enumerate(value):
        if not isinstance(c, dict):
            raise ValueError(f"[{i}] must be an object")
        unknown = set(c) - {"name", "status", "full_name", "suite", "message", "duration_ms", "flaky"}
        if unknown:
            raise ValueError(f"[{i}]: unknown keys {sorted(unknown)}")
        if not isinstance(c.get("name"), str) or not c["name"]:
            raise ValueError(f"[{i}].name must be a non-empty string")
        if c.get("status") not in CASE_STATUSES:
            raise ValueError(f"[{i}].status must be one of {', '.join(CASE_STATUSES)}")
        for k in ("full_name", "suite", "message"):
            if k in c and c[k] is not None and not isinstance(c[k], str):
                raise ValueError(f"[{i}].{k} must be a string")
        d = c.get("duration_ms", 10)
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise ValueError(f"[{i}].duration_ms must be an integer >= 0")
        suite = c.get("suite") or "tests.test_suite"
        out.append(
            {
                "name": c["name"],
                "status": c["status"],
                "suite": suite,
                "full_name": c.get("full_name") or f"{suite}#{c['name']}",
                "message": c.get("message"),
                "duration_ms": d,
                "flaky": bool(c.get("flaky", False)),
            }
        )
    return out


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (an id, as Allure makes it)


def planned_cases(cases: list[dict], body: dict) -> list[dict]:
    """The cases a trigger body's Allure test plan selects (all of them without a plan)."""
    plan = body.get("testplan")
    tests = plan.get("tests") if isinstance(plan, dict) else None
    if not isinstance(tests, list) or not tests:
        return cases
    selectors = {t.get("selector") for t in tests if isinstance(t, dict)}
    ids = {str(t.get("id")) for t in tests if isinstance(t, dict) and t.get("id") is not None}
    return [c for c in cases if c["full_name"] in selectors or md5(c["full_name"]) in ids]


def case_files(task: dict, cases: list[dict], start: int) -> dict[str, tuple[bytes, str]]:
    """Allure 2's data/suites.json tree and data/test-cases/<uid>.json of the cases."""
    files: dict[str, tuple[bytes, str]] = {}
    root_uid = md5(task["task_id"])
    suites: dict[str, dict] = {}
    at = start
    for c in cases:
        uid = md5(task["task_id"] + c["full_name"] + c["name"])[:16]
        time_ = {"start": at, "stop": at + c["duration_ms"], "duration": c["duration_ms"]}
        at += c["duration_ms"]
        suite = suites.setdefault(
            c["suite"], {"name": c["suite"], "uid": md5(root_uid + c["suite"])[:16], "parentUid": root_uid, "children": []}
        )
        suite["children"].append(
            {
                "name": c["name"],
                "uid": uid,
                "parentUid": suite["uid"],
                "status": c["status"],
                "time": time_,
                "flaky": c["flaky"],
                "newFailed": False,
                "newPassed": False,
                "newBroken": False,
                "retriesCount": 0,
                "retriesStatusChange": False,
                "parameters": [],
                "tags": [],
            }
        )
        detail = {
            "uid": uid,
            "name": c["name"],
            "fullName": c["full_name"],
            "historyId": md5(c["full_name"]),
            "time": time_,
            "status": c["status"],
            "flaky": c["flaky"],
            "parameters": [],
            "labels": [{"name": "suite", "value": c["suite"]}],
        }
        if c["message"]:
            detail["statusMessage"] = c["message"]
        files[f"data/test-cases/{uid}.json"] = (json.dumps(detail).encode(), "application/json")
    tree = {"uid": root_uid, "name": "suites", "children": list(suites.values())}
    files["data/suites.json"] = (json.dumps(tree).encode(), "application/json")
    return files


def check_url(value):
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"https?://", value):
        raise ValueError("must be an http(s) URL or null")
    return value if value.endswith("/") else value + "/"


def check_choice(*choices):
    def check(value):
        if value not in choices:
            raise ValueError("must be one of " + " | ".join(choices))
        return value

    return check


def check_str(value):
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


CONTROL_CHECKS = {
    "deploy_seconds": check_nonneg,
    "test_seconds": check_nonneg,
    "pending_seconds": check_nonneg,
    "outcome": check_choice("completed", "failed"),
    "error": check_str,
    "statistic": check_statistic,
    "summary": lambda v: v,
    "summary_format": check_choice(*FORMATS),
    "report_base_url": check_url,
    "trigger_fault": check_fault,
    "poll_fault": check_fault,
    "report_fault": check_fault,
    "trigger_fault_count": check_count,
    "poll_fault_count": check_count,
    "report_fault_count": check_count,
    "timeout_seconds": check_nonneg,
    "cases": check_cases,
}


class State:
    def __init__(self, defaults: dict, state_file: str | None):
        self.defaults = defaults
        self.state_file = state_file
        self.lock = threading.RLock()
        self.control = copy.deepcopy(defaults)
        self.tasks: dict[str, dict] = {}
        self.requests: list[dict] = []
        if state_file and os.path.exists(state_file):
            with open(state_file, encoding="utf-8") as f:
                saved = json.load(f)
            self.tasks = saved.get("tasks", {})
            self.control.update(saved.get("control", {}))

    def save(self) -> None:
        if not self.state_file:
            return
        with self.lock:
            data = json.dumps({"tasks": self.tasks, "control": self.control}, indent=1)
            tmp = self.state_file + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(data)
            os.replace(tmp, self.state_file)

    def take_fault(self, which: str) -> str | None:
        with self.lock:
            fault = self.control.get(f"{which}_fault")
            if fault is None:
                return None
            count = self.control.get(f"{which}_fault_count")
            if count is not None:
                count -= 1
                if count <= 0:
                    self.control[f"{which}_fault"] = None
                    self.control[f"{which}_fault_count"] = None
                else:
                    self.control[f"{which}_fault_count"] = count
                self.save()
            return fault

    def status_of(self, task: dict, now: float | None = None) -> str:
        if task.get("forced"):
            return task["forced"]["status"]
        plan = task["plan"]
        e = (now if now is not None else time.time()) - task["created_at"]
        if e < plan["pending_seconds"]:
            return "pending"
        e -= plan["pending_seconds"]
        if e < plan["deploy_seconds"]:
            return "running:deploy"
        e -= plan["deploy_seconds"]
        if e < plan["test_seconds"]:
            return "running:test"
        return plan["outcome"]

    def error_of(self, task: dict) -> str:
        forced = task.get("forced") or {}
        return "deploy failed: " + (forced.get("error") or task["plan"]["error"])


def report_files(task: dict) -> dict[str, tuple[bytes, str]]:
    """relative path -> (body, content type) of the published report."""
    plan = task["plan"]
    counts = dict(DEFAULT_STATISTIC)
    cases = None if plan.get("cases") is None else planned_cases(plan["cases"], task["body"])
    if cases is not None:
        counts = {k: sum(1 for c in cases if c["status"] == k) for k in COUNT_KEYS}
    if plan.get("statistic"):
        counts.update({k: v for k, v in plan["statistic"].items() if k != "total"})
    total = (plan.get("statistic") or {}).get("total", sum(counts[k] for k in COUNT_KEYS))
    statistic = {k: counts[k] for k in COUNT_KEYS} | {"total": total}
    start = int((task["created_at"] + plan["pending_seconds"] + plan["deploy_seconds"]) * 1000)
    stop = start + int(plan["test_seconds"] * 1000)
    fmt = plan["summary_format"]
    override = plan.get("summary")

    def js(obj) -> bytes:
        if isinstance(obj, str):
            return obj.encode()  # served raw: lets a test publish broken JSON
        return json.dumps(obj, separators=(",", ":")).encode()

    files: dict[str, tuple[bytes, str]] = {}
    title = f"Allure Report for task {task['task_id']}"
    files["index.html"] = (
        (
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Allure Report</title></head>\n"
            f"<body><h1>{title}</h1><p>passed {statistic['passed']}, failed {statistic['failed']}, "
            f"broken {statistic['broken']}, skipped {statistic['skipped']}, total {statistic['total']}</p>"
            "</body></html>\n"
        ).encode(),
        "text/html; charset=utf-8",
    )
    if fmt == "allure2":
        default = {
            "reportName": "Allure Report",
            "testRuns": [],
            "statistic": statistic,
            "time": {
                "start": start,
                "stop": stop,
                "duration": stop - start,
                "minDuration": 0,
                "maxDuration": 1,
                "sumDuration": 1,
            },
        }
        files["widgets/summary.json"] = (js(default if override is None else override), "application/json")
        if cases is not None:
            files.update(case_files(task, cases, start))
    elif fmt == "allure3":
        stats = {"total": total} | {k: counts[k] for k in ("passed", "failed", "broken", "skipped", "unknown") if counts[k]}
        default = {
            "name": "Allure Report",
            "stats": stats,
            "status": "failed" if counts["failed"] or counts["broken"] else "passed",
            "duration": stop - start,
            "createdAt": stop,
            "plugin": "Awesome",
            "newTests": [],
            "flakyTests": [],
            "retryTests": [],
        }
        files["summary.json"] = (js(default if override is None else override), "application/json")
        files["widgets/statistic.json"] = (js(stats), "application/json")
    elif fmt == "statistic":
        files["widgets/statistic.json"] = (js(statistic if override is None else override), "application/json")
    return files


class Handler(BaseHTTPRequestHandler):
    server_version = "uvicorn"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes: with Nagle on, a kept-alive client
    # waits for the delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True
    state: State
    verbose = False

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        if self.verbose:
            sys.stderr.write("test_server: %s - %s\n" % (self.address_string(), format % args))

    def version_string(self):
        return "uvicorn"

    # -- output

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._status = status

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _record(self, path: str, fault: str | None) -> None:
        with self.state.lock:
            self.state.requests.append(
                {"method": self.command, "path": path, "status": getattr(self, "_status", 0), "fault": fault, "time": time.time()}
            )

    # -- faults

    def _apply_fault(self, fault: str) -> bool:
        """True when the request has been answered (or dropped) by the fault."""
        if fault == "garbage":
            self._send(200, b"<html><body><h1>502 Bad Gateway</h1>this is not JSON</body></html>", "text/html")
            return True
        if fault == "refuse":
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
            return True
        if fault == "timeout":
            deadline = time.monotonic() + float(self.state.control.get("timeout_seconds") or 120)
            while time.monotonic() < deadline:
                try:
                    r, _, _ = select.select([self.connection], [], [], 0.2)
                    if r and self.connection.recv(1, socket.MSG_PEEK) == b"":
                        self.close_connection = True
                        return True  # the client hung up: process nothing
                except OSError:
                    self.close_connection = True
                    return True
                if r:
                    time.sleep(0.2)  # pipelined bytes: keep waiting
            return False  # still connected: answer normally, late
        self._send(int(fault), b"Internal Server Error", "text/plain; charset=utf-8")
        return True

    # -- routing

    def do_GET(self):
        self._route()

    def do_HEAD(self):
        self._route()

    def do_POST(self):
        self._route()

    def do_DELETE(self):
        self._route()

    def do_PUT(self):
        self._route()

    def _route(self):
        path = urllib.parse.urlsplit(self.path).path
        m = self.command
        fault = None
        self._status = 0
        try:
            if path == "/api/deploy_and_test":
                if m != "POST":
                    return self._json(405, {"detail": "Method Not Allowed"})
                raw = self._body()
                fault = self.state.take_fault("trigger")
                if fault and self._apply_fault(fault):
                    return
                return self._trigger(raw)
            if path.startswith("/api/tasks/"):
                if m not in ("GET", "HEAD"):
                    return self._json(405, {"detail": "Method Not Allowed"})
                fault = self.state.take_fault("poll")
                if fault and self._apply_fault(fault):
                    return
                return self._poll(urllib.parse.unquote(path[len("/api/tasks/") :]))
            if path.startswith("/reports/"):
                if m not in ("GET", "HEAD"):
                    return self._json(405, {"detail": "Method Not Allowed"})
                fault = self.state.take_fault("report")
                if fault and self._apply_fault(fault):
                    return
                return self._report(urllib.parse.unquote(path[len("/reports/") :]))
            if path == "/healthz" and m in ("GET", "HEAD"):
                return self._json(200, {"status": "ok"})
            if path.startswith("/_"):
                return self._control_api(path, m)
            return self._json(404, {"detail": "Not Found"})
        finally:
            if not path.startswith("/_") and path != "/healthz":
                self._record(path, fault)

    # -- the real API

    def _trigger(self, raw: bytes):
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return self._json(400, {"detail": "Invalid JSON body"})
        if not isinstance(body, dict):
            return self._json(
                422,
                {"detail": [{"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary or object to extract fields from", "input": body}]},
            )
        errors = []
        for field in ("service_name", "package_url"):
            if field not in body:
                errors.append({"type": "missing", "loc": ["body", field], "msg": "Field required", "input": body})
            elif not isinstance(body[field], str) or not body[field]:
                errors.append({"type": "string_type", "loc": ["body", field], "msg": "Input should be a valid non-empty string", "input": body[field]})
        if errors:
            return self._json(422, {"detail": errors})
        with self.state.lock:
            c = self.state.control
            task_id = str(uuid.uuid4())
            self.state.tasks[task_id] = {
                "task_id": task_id,
                "body": body,
                "created_at": time.time(),
                "polls": 0,
                "forced": None,
                "plan": {
                    "pending_seconds": c["pending_seconds"],
                    "deploy_seconds": c["deploy_seconds"],
                    "test_seconds": c["test_seconds"],
                    "outcome": c["outcome"],
                    "error": c["error"],
                    "statistic": copy.deepcopy(c["statistic"]),
                    "summary": copy.deepcopy(c["summary"]),
                    "summary_format": c["summary_format"],
                    "cases": copy.deepcopy(c.get("cases")),
                },
            }
            self.state.save()
        return self._json(200, {"task_id": task_id})

    def _report_url(self, task_id: str) -> str:
        base = self.state.control.get("report_base_url")
        if base:
            return base + task_id + "/"
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return f"http://{host}/reports/{task_id}/"

    def _view(self, task: dict) -> dict:
        status = self.state.status_of(task)
        out = {"task_id": task["task_id"], "status": status}
        if status == "completed":
            out["report_url"] = self._report_url(task["task_id"])
        elif status == "failed":
            out["error"] = self.state.error_of(task)
        return out

    def _poll(self, task_id: str):
        with self.state.lock:
            task = self.state.tasks.get(task_id)
            if task is None:
                return self._json(404, {"detail": "Task not found"})
            task["polls"] = task.get("polls", 0) + 1
            view = self._view(task)
        return self._json(200, view)

    def _report(self, rest: str):
        task_id, _, rel = rest.partition("/")
        with self.state.lock:
            task = self.state.tasks.get(task_id)
            if task is None or self.state.status_of(task) != "completed":
                return self._json(404, {"detail": "Not Found"})
            files = report_files(task)
        if rel == "":
            rel = "index.html"
        if rel not in files:
            return self._json(404, {"detail": "Not Found"})
        body, ctype = files[rel]
        return self._send(200, body, ctype)

    # -- control

    def _control_api(self, path: str, m: str):
        st = self.state
        if path == "/_control" and m == "GET":
            with st.lock:
                return self._json(200, st.control)
        if path == "/_control" and m == "POST":
            try:
                body = json.loads(self._body() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                checked = {}
                for k, v in body.items():
                    if k not in CONTROL_CHECKS:
                        raise ValueError(f"unknown control key {k!r}; known: {', '.join(CONTROL_CHECKS)}")
                    try:
                        checked[k] = CONTROL_CHECKS[k](v)
                    except ValueError as e:
                        raise ValueError(f"{k}: {e}") from None
            except ValueError as e:
                return self._json(400, {"detail": str(e)})
            with st.lock:
                st.control.update(checked)
                for which in ("trigger", "poll", "report"):
                    # Setting a fault without a count means "until cleared".
                    if f"{which}_fault" in checked and f"{which}_fault_count" not in checked:
                        st.control[f"{which}_fault_count"] = None
                st.save()
                return self._json(200, st.control)
        if path == "/_tasks" and m == "GET":
            with st.lock:
                tasks = []
                for t in st.tasks.values():
                    view = self._view(t)
                    view.update(
                        body=t["body"],
                        created_at=rfc3339(t["created_at"]),
                        created_at_epoch=t["created_at"],
                        polls=t.get("polls", 0),
                    )
                    tasks.append(view)
            tasks.sort(key=lambda t: t["created_at_epoch"])
            return self._json(200, {"tasks": tasks})
        if path.startswith("/_tasks/") and m == "POST":
            task_id = urllib.parse.unquote(path[len("/_tasks/") :])
            try:
                body = json.loads(self._body() or b"{}")
                status = body.get("status")
                if status is not None and status not in STATUSES:
                    raise ValueError(f"status must be null or one of {', '.join(STATUSES)}")
            except (ValueError, AttributeError) as e:
                return self._json(400, {"detail": str(e)})
            with st.lock:
                task = st.tasks.get(task_id)
                if task is None:
                    return self._json(404, {"detail": "Task not found"})
                task["forced"] = {"status": status, "error": body.get("error")} if status else None
                st.save()
                return self._json(200, self._view(task))
        if path == "/_requests" and m == "GET":
            with st.lock:
                return self._json(200, list(st.requests))
        if path == "/_requests" and m == "DELETE":
            with st.lock:
                st.requests.clear()
            return self._json(200, [])
        if path == "/_reset" and m == "POST":
            self._body()
            with st.lock:
                st.tasks.clear()
                st.requests.clear()
                st.control = copy.deepcopy(st.defaults)
                st.save()
                return self._json(200, st.control)
        return self._json(404, {"detail": "Not Found"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="double of the external deploy-and-test server for CRAT")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--deploy-seconds", type=float, default=2.0)
    p.add_argument("--test-seconds", type=float, default=3.0)
    p.add_argument("--pending-seconds", type=float, default=0.2)
    p.add_argument("--outcome", choices=["completed", "failed"], default="completed")
    p.add_argument("--summary-format", choices=FORMATS, default="allure2")
    p.add_argument("--state-file", help="persist tasks and control to this JSON file")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)

    defaults = {
        "deploy_seconds": a.deploy_seconds,
        "test_seconds": a.test_seconds,
        "pending_seconds": a.pending_seconds,
        "outcome": a.outcome,
        "error": "simulated failure (outcome=failed)",
        "statistic": None,
        "summary": None,
        "summary_format": a.summary_format,
        "report_base_url": None,
        "trigger_fault": None,
        "trigger_fault_count": None,
        "poll_fault": None,
        "poll_fault_count": None,
        "report_fault": None,
        "report_fault_count": None,
        "timeout_seconds": 120.0,
        "cases": None,
    }
    Handler.state = State(defaults, a.state_file)
    Handler.verbose = a.verbose
    server = Server((a.host, a.port), Handler)
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"test server on http://{shown}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
