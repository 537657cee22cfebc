"""Tests of the development peers (stdlib unittest, no network beyond 127.0.0.1).

    python3 -m unittest devpeers/test_peers.py -v
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 1795630190  # Wed, 25 Nov 2026 18:09:50 GMT
DATE = b"25-Nov-2026 18:09"
DIR_SIZE = b"                  -"


def start(script: str, *args: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, script), "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if " on http://127.0.0.1:" not in line:
        proc.kill()
        raise RuntimeError(f"{script} did not start: {line!r} {proc.stderr.read()}")
    return proc, int(line.rsplit(":", 1)[1])


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def request(port, method, path, body=None, headers=None, timeout=5.0):
    """(status, headers, body bytes) over a fresh connection, with the path sent as is."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp, resp.read()
    finally:
        conn.close()


def get_json(port, path, method="GET", body=None):
    status, _, data = request(port, method, path, body)
    return status, json.loads(data) if data else None


class PackageServerTest(unittest.TestCase):
    name60 = ("cds-9.9.9-" + "a" * 60)[:53] + ".tar.gz"
    name50 = "f" * 43 + ".tar.gz"
    dir50 = "d" * 50

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="crat-pkg-")
        folder = os.path.join(cls.root, "CDN", "pass", "b1", "el7")
        os.makedirs(folder)
        for d in ("sub", "x&y dir", cls.dir50):
            os.mkdir(os.path.join(folder, d))
        rng = random.Random(7)
        cls.big = bytes(rng.getrandbits(8) for _ in range(300_000))
        files = {"a b%c&d.tar.gz": b"hello", "big.tar.gz": cls.big, cls.name60: b"x" * 12, cls.name50: b"", ".hidden": b"h"}
        for name, content in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(content)
        for name in os.listdir(folder):
            os.utime(os.path.join(folder, name), (MTIME, MTIME))
        with open(os.path.join(cls.root, "secret.txt"), "w") as f:
            f.write("top")
        cls.proc, cls.port = start("package_server.py", "--root", cls.root)
        cls.jproc, cls.jport = start("package_server.py", "--root", cls.root, "--format", "json")

    @classmethod
    def tearDownClass(cls):
        stop(cls.proc)
        stop(cls.jproc)
        shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        request(self.port, "DELETE", "/_control")
        request(self.port, "DELETE", "/_requests")

    def test_html_listing_bytes(self):
        status, resp, body = request(self.port, "GET", "/CDN/pass/b1/el7/")
        self.assertEqual(status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "text/html")

        def row(href: str, text: str, shown: int, size: bytes) -> bytes:
            pad = b" " * (50 - shown) if shown < 50 else b""
            return b'<a href="' + href.encode() + b'">' + text.encode() + b"</a>" + pad + b" " + DATE + b" " + size + b"\r\n"

        expected = (
            b"<html>\r\n<head><title>Index of /CDN/pass/b1/el7/</title></head>\r\n<body>\r\n"
            b'<h1>Index of /CDN/pass/b1/el7/</h1><hr><pre><a href="../">../</a>\r\n'
            # directories first: a 50-char name keeps no "/" in its text (nginx quirk)
            + row(self.dir50 + "/", self.dir50, 50, DIR_SIZE)
            + row("sub/", "sub/", 4, DIR_SIZE)
            + row("x%26y%20dir/", "x&amp;y dir/", 8, DIR_SIZE)
            # then files, byte order; the dot file is hidden
            + row("a%20b%25c%26d.tar.gz", "a b%c&amp;d.tar.gz", 14, b"%19d" % 5)
            + row("big.tar.gz", "big.tar.gz", 10, b"%19d" % 300_000)
            + b'<a href="' + self.name60.encode() + b'">' + self.name60[:47].encode() + b"..&gt;</a> " + DATE + b" " + b"%19d" % 12 + b"\r\n"
            + row(self.name50, self.name50, 50, b"%19d" % 0)
            + b"</pre><hr></body>\r\n</html>\r\n"
        )
        self.assertEqual(body, expected)
        # column check on one line, as a reader of the format would do it
        line = [ln for ln in body.split(b"\r\n") if b"big.tar.gz" in ln][0]
        visible = line.replace(b'<a href="big.tar.gz">', b"").replace(b"</a>", b"")
        self.assertEqual(visible.index(DATE), 51)  # name padded to 50 columns, then a space
        self.assertTrue(line.endswith(b"            300000"))

    def test_json_listing(self):
        status, resp, body = request(self.jport, "GET", "/CDN/pass/b1/el7/")
        self.assertEqual(status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        self.assertTrue(body.startswith(b'[\r\n{ "name":"' + self.dir50.encode() + b'", "type":"directory", "mtime":"Wed, 25 Nov 2026 18:09:50 GMT" },\r\n'))
        self.assertIn(b'{ "name":"a b%c&d.tar.gz", "type":"file", "mtime":"Wed, 25 Nov 2026 18:09:50 GMT", "size":5 },\r\n', body)
        self.assertTrue(body.endswith(b'"size":0 }\r\n]'))
        items = json.loads(body)
        self.assertEqual(
            [i["name"] for i in items],
            [self.dir50, "sub", "x&y dir", "a b%c&d.tar.gz", "big.tar.gz", self.name60, self.name50],
        )
        self.assertNotIn("size", items[0])
        self.assertEqual(items[4], {"name": "big.tar.gz", "type": "file", "mtime": "Wed, 25 Nov 2026 18:09:50 GMT", "size": 300000})
        # switching the format at run time
        request(self.port, "POST", "/_control", {"listing_format": "json"})
        try:
            self.assertEqual(request(self.port, "GET", "/CDN/pass/b1/el7/")[2], body)
        finally:
            request(self.port, "POST", "/_control", {"listing_format": "html"})

    def test_empty_json_listing(self):
        self.assertEqual(request(self.jport, "GET", "/CDN/pass/b1/el7/sub/")[2], b"[\r\n]")

    def test_redirect_without_slash(self):
        status, resp, _ = request(self.port, "GET", "/CDN/pass/b1/el7")
        self.assertEqual(status, 301)
        self.assertEqual(resp.getheader("Location"), f"http://127.0.0.1:{self.port}/CDN/pass/b1/el7/")
        # urllib follows it to the listing
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/CDN/pass/b1/el7/x%26y%20dir") as r:
            # nginx escapes only " ", "#", "%", "?" and non-ASCII in Location (NGX_ESCAPE_URI)
            self.assertEqual(r.url, f"http://127.0.0.1:{self.port}/CDN/pass/b1/el7/x&y%20dir/")
            self.assertIn(b"<title>Index of /CDN/pass/b1/el7/x&amp;y dir/</title>", r.read())

    def test_download(self):
        status, resp, body = request(self.port, "GET", "/CDN/pass/b1/el7/big.tar.gz")
        self.assertEqual(status, 200)
        self.assertEqual(resp.getheader("Content-Length"), "300000")
        self.assertEqual(resp.getheader("Last-Modified"), "Wed, 25 Nov 2026 18:09:50 GMT")
        self.assertEqual(body, self.big)
        status, _, body = request(self.port, "GET", "/CDN/pass/b1/el7/a%20b%25c%26d.tar.gz")
        self.assertEqual((status, body), (200, b"hello"))
        status, resp, body = request(self.port, "GET", "/CDN/pass/b1/el7/big.tar.gz", headers={"Range": "bytes=10-19"})
        self.assertEqual((status, body, resp.getheader("Content-Range")), (206, self.big[10:20], "bytes 10-19/300000"))
        status, resp, body = request(self.port, "HEAD", "/CDN/pass/b1/el7/big.tar.gz")
        self.assertEqual((status, resp.getheader("Content-Length"), body), (200, "300000", b""))

    def test_not_found_and_outside_root(self):
        self.assertEqual(request(self.port, "GET", "/CDN/pass/b1/el7/nope.tar.gz")[0], 404)
        self.assertEqual(request(self.port, "GET", "/CDN/pass/b1/el7/../../../../secret.txt")[0], 400)
        self.assertEqual(request(self.port, "GET", "/CDN/%2e%2e/%2E%2E/secret.txt")[0], 400)
        self.assertEqual(request(self.port, "GET", "/../../etc/passwd")[0], 400)
        os.symlink("/etc", os.path.join(self.root, "CDN", "etc-link"))
        try:
            self.assertEqual(request(self.port, "GET", "/CDN/etc-link/passwd")[0], 404)
        finally:
            os.unlink(os.path.join(self.root, "CDN", "etc-link"))

    def test_truncate_fault(self):
        path = "/CDN/pass/b1/el7/big.tar.gz"
        status, ctl = get_json(self.port, "/_control", "POST", {"path": path, "fault": "truncate"})
        self.assertEqual((status, ctl["faults"][path]["fault"]), (200, "truncate"))
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", path)
        resp = conn.getresponse()
        self.assertEqual(resp.getheader("Content-Length"), "300000")
        with self.assertRaises(http.client.IncompleteRead) as cm:
            resp.read()
        conn.close()
        self.assertEqual(len(cm.exception.partial), 150_000)
        self.assertEqual(cm.exception.partial, self.big[:150_000])
        # the listing is unaffected, and DELETE clears the fault
        self.assertEqual(request(self.port, "GET", "/CDN/pass/b1/el7/")[0], 200)
        request(self.port, "DELETE", "/_control", {"path": path})
        self.assertEqual(request(self.port, "GET", path)[2], self.big)

    def test_status_fault_with_count_and_request_log(self):
        path = "/CDN/pass/b1/el7/"
        request(self.port, "POST", "/_control", {"path": path, "fault": "status=500", "count": 2})
        self.assertEqual(request(self.port, "GET", path)[0], 500)
        self.assertEqual(request(self.port, "GET", path)[0], 500)
        self.assertEqual(request(self.port, "GET", path)[0], 200)
        request(self.port, "POST", "/_control", {"path": "/CDN/*", "fault": "status", "status": 503})
        self.assertEqual(request(self.port, "GET", "/CDN/pass/b1/el7/big.tar.gz")[0], 503)
        status, log = get_json(self.port, "/_requests")
        self.assertEqual(
            [(r["method"], r["path"], r["status"]) for r in log],
            [("GET", path, 500), ("GET", path, 500), ("GET", path, 200), ("GET", "/CDN/pass/b1/el7/big.tar.gz", 503)],
        )
        self.assertEqual(get_json(self.port, "/_control", "POST", {"path": "/x", "fault": "bogus"})[0], 400)

    def test_slow_and_corrupt_faults(self):
        path = "/CDN/pass/b1/el7/big.tar.gz"
        request(self.port, "POST", "/_control", {"path": path, "fault": "slow", "kib_per_s": 1000, "count": 1})
        t0 = time.monotonic()
        status, _, body = request(self.port, "GET", path)
        elapsed = time.monotonic() - t0
        self.assertEqual((status, body), (200, self.big))
        self.assertGreater(elapsed, 0.2)  # 293 KiB at 1000 KiB/s ≈ 0.29 s
        request(self.port, "POST", "/_control", {"path": path, "fault": "corrupt", "count": 1})
        status, resp, body = request(self.port, "GET", path)
        self.assertEqual((status, len(body)), (200, 300_000))
        self.assertNotEqual(body, self.big)
        self.assertEqual(sum(a != b for a, b in zip(body, self.big)), 1)


class TestServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start("test_server.py", "--deploy-seconds", "0.3", "--test-seconds", "0.3")
        cls.base = f"http://127.0.0.1:{cls.port}"

    @classmethod
    def tearDownClass(cls):
        stop(cls.proc)

    def setUp(self):
        self.assertEqual(request(self.port, "POST", "/_reset")[0], 200)

    body = {"service_name": "cds", "package_url": "http://p/x.tar.gz", "package_path": "CDN/x", "run_id": 7}

    def trigger(self, body=None):
        status, data = get_json(self.port, "/api/deploy_and_test", "POST", body or self.body)
        self.assertEqual(status, 200, data)
        return data["task_id"]

    def poll_until_done(self, task_id, limit=5.0):
        seen = []
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            status, data = get_json(self.port, f"/api/tasks/{task_id}")
            self.assertEqual(status, 200)
            if not seen or seen[-1] != data["status"]:
                seen.append(data["status"])
            if data["status"] in ("completed", "failed"):
                return seen, data
            time.sleep(0.03)
        self.fail(f"task did not finish: {seen}")

    def test_phases_and_report(self):
        task_id = self.trigger()
        seen, final = self.poll_until_done(task_id)
        self.assertEqual(seen, ["pending", "running:deploy", "running:test", "completed"])
        self.assertEqual(final["report_url"], f"{self.base}/reports/{task_id}/")
        with urllib.request.urlopen(final["report_url"] + "widgets/summary.json") as r:
            summary = json.load(r)
        self.assertEqual(summary["reportName"], "Allure Report")
        self.assertEqual(summary["statistic"], {"failed": 1, "broken": 1, "skipped": 1, "passed": 97, "unknown": 0, "total": 100})
        self.assertEqual(set(summary["time"]), {"start", "stop", "duration", "minDuration", "maxDuration", "sumDuration"})
        self.assertAlmostEqual(summary["time"]["duration"], 300, delta=2)
        with urllib.request.urlopen(final["report_url"]) as r:
            self.assertIn(b"Allure Report", r.read())
        self.assertEqual(request(self.port, "GET", f"/reports/{task_id}/summary.json")[0], 404)

    def test_scripted_cases_and_a_test_plan(self):
        cases = [
            {"name": "test_a", "status": "passed"},
            {"name": "test_b", "status": "failed", "message": "AssertionError: 1 != 2\nmore"},
            {"name": "test_c", "status": "broken", "suite": "tests.test_db", "full_name": "tests.test_db.Pool#test_c"},
        ]
        status, data = get_json(self.port, "/_control", "POST", {"cases": [{"name": "x", "status": "bad"}]})
        self.assertEqual(status, 400, data)
        self.assertIn("status", data["detail"])
        request(self.port, "POST", "/_control", {"cases": cases, "deploy_seconds": 0, "test_seconds": 0, "pending_seconds": 0})

        def report(body):
            _, final = self.poll_until_done(self.trigger(body))
            base = final["report_url"]
            with urllib.request.urlopen(base + "widgets/summary.json") as r:
                statistic = json.load(r)["statistic"]
            with urllib.request.urlopen(base + "data/suites.json") as r:
                tree = json.load(r)
            leaves = [leaf for suite in tree["children"] for leaf in suite["children"]]
            details = {}
            for leaf in leaves:
                self.assertEqual(set(leaf) >= {"name", "uid", "parentUid", "status", "time", "flaky", "retriesCount", "parameters"}, True)
                with urllib.request.urlopen(f"{base}data/test-cases/{leaf['uid']}.json") as r:
                    details[leaf["name"]] = json.load(r)
            return statistic, leaves, details

        statistic, leaves, details = report(None)
        self.assertEqual([(l["name"], l["status"]) for l in leaves], [("test_a", "passed"), ("test_b", "failed"), ("test_c", "broken")])
        self.assertEqual(statistic, {"passed": 1, "failed": 1, "broken": 1, "skipped": 0, "unknown": 0, "total": 3})
        self.assertEqual(details["test_b"]["fullName"], "tests.test_suite#test_b")
        self.assertEqual(details["test_b"]["statusMessage"], "AssertionError: 1 != 2\nmore")
        self.assertEqual(details["test_c"]["fullName"], "tests.test_db.Pool#test_c")
        self.assertRegex(details["test_a"]["historyId"], r"^[0-9a-f]{32}$")
        # The same test keeps its history id from task to task.
        history_b = details["test_b"]["historyId"]

        plan = {"version": "1.0", "tests": [{"selector": "tests.test_suite#test_b"}, {"id": details["test_c"]["historyId"]}]}
        statistic, leaves, details = report(dict(self.body, testplan=plan))
        self.assertEqual([l["name"] for l in leaves], ["test_b", "test_c"], "only the planned cases ran")
        self.assertEqual(statistic["total"], 2)
        self.assertEqual(details["test_b"]["historyId"], history_b)
        # Without cases the report is as before: no case files.
        request(self.port, "POST", "/_control", {"cases": None})
        _, final = self.poll_until_done(self.trigger())
        self.assertEqual(request(self.port, "GET", f"/reports/{final['task_id']}/data/suites.json")[0], 404)

    def test_failed_outcome(self):
        request(self.port, "POST", "/_control", {"outcome": "failed", "error": "disk full", "deploy_seconds": 0, "test_seconds": 0, "pending_seconds": 0})
        seen, final = self.poll_until_done(self.trigger())
        self.assertEqual(final, {"task_id": final["task_id"], "status": "failed", "error": "deploy failed: disk full"})
        self.assertEqual(request(self.port, "GET", f"/reports/{final['task_id']}/widgets/summary.json")[0], 404)

    def test_validation_and_unknown_task(self):
        self.assertEqual(get_json(self.port, "/api/deploy_and_test", "POST", b"{not json"), (400, {"detail": "Invalid JSON body"}))
        status, data = get_json(self.port, "/api/deploy_and_test", "POST", {"service_name": "cds"})
        self.assertEqual(status, 422)
        self.assertEqual(data["detail"][0]["loc"], ["body", "package_url"])
        self.assertEqual(get_json(self.port, "/api/deploy_and_test", "POST", [1])[0], 422)
        self.assertEqual(get_json(self.port, "/api/tasks/nope"), (404, {"detail": "Task not found"}))
        self.assertEqual(get_json(self.port, "/_tasks"), (200, {"tasks": []}))

    def test_tasks_listing(self):
        task_id = self.trigger()
        status, data = get_json(self.port, "/_tasks")
        self.assertEqual(len(data["tasks"]), 1)
        t = data["tasks"][0]
        self.assertEqual((t["task_id"], t["body"], t["status"]), (task_id, self.body, "pending"))
        self.assertTrue(t["created_at"].endswith("Z"))

    def test_poll_fault_500_with_count(self):
        task_id = self.trigger()
        request(self.port, "POST", "/_control", {"poll_fault": "500", "poll_fault_count": 3})
        codes = [request(self.port, "GET", f"/api/tasks/{task_id}")[0] for _ in range(4)]
        self.assertEqual(codes, [500, 500, 500, 200])
        self.assertIsNone(get_json(self.port, "/_control")[1]["poll_fault"])

    def test_poll_fault_garbage(self):
        task_id = self.trigger()
        request(self.port, "POST", "/_control", {"poll_fault": "garbage", "poll_fault_count": 1})
        status, resp, body = request(self.port, "GET", f"/api/tasks/{task_id}")
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(body)
        self.assertEqual(get_json(self.port, f"/api/tasks/{task_id}")[0], 200)

    def test_poll_fault_timeout(self):
        task_id = self.trigger()
        request(self.port, "POST", "/_control", {"poll_fault": "timeout"})
        t0 = time.monotonic()
        with self.assertRaises((TimeoutError, socket.timeout)):
            request(self.port, "GET", f"/api/tasks/{task_id}", timeout=0.4)
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)
        # a patient client gets a late, normal answer
        request(self.port, "POST", "/_control", {"poll_fault": "timeout", "poll_fault_count": 1, "timeout_seconds": 0.3})
        t0 = time.monotonic()
        status, _, body = request(self.port, "GET", f"/api/tasks/{task_id}", timeout=5)
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)

    def test_poll_fault_refuse(self):
        task_id = self.trigger()
        request(self.port, "POST", "/_control", {"poll_fault": "refuse", "poll_fault_count": 1})
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            request(self.port, "GET", f"/api/tasks/{task_id}")
        self.assertEqual(get_json(self.port, f"/api/tasks/{task_id}")[0], 200)

    def test_trigger_fault_creates_no_task(self):
        request(self.port, "POST", "/_control", {"trigger_fault": "500", "trigger_fault_count": 1})
        self.assertEqual(request(self.port, "POST", "/api/deploy_and_test", self.body)[0], 500)
        self.trigger()
        self.assertEqual(len(get_json(self.port, "/_tasks")[1]["tasks"]), 1)
        log = get_json(self.port, "/_requests")[1]
        self.assertEqual([(r["path"], r["status"], r["fault"]) for r in log], [("/api/deploy_and_test", 500, "500"), ("/api/deploy_and_test", 200, None)])

    def test_summary_formats(self):
        request(self.port, "POST", "/_control", {"deploy_seconds": 0, "test_seconds": 0, "pending_seconds": 0, "summary_format": "allure3", "statistic": {"passed": 5, "failed": 0, "broken": 0, "skipped": 0}})
        tid = self.poll_until_done(self.trigger())[1]["task_id"]
        s = get_json(self.port, f"/reports/{tid}/summary.json")[1]
        self.assertEqual(s["stats"], {"total": 5, "passed": 5})
        self.assertEqual(s["status"], "passed")
        self.assertEqual(request(self.port, "GET", f"/reports/{tid}/widgets/summary.json")[0], 404)
        self.assertEqual(get_json(self.port, f"/reports/{tid}/widgets/statistic.json")[1], {"total": 5, "passed": 5})

        request(self.port, "POST", "/_control", {"summary_format": "statistic", "statistic": None})
        tid = self.poll_until_done(self.trigger())[1]["task_id"]
        self.assertEqual(get_json(self.port, f"/reports/{tid}/widgets/statistic.json")[1]["total"], 100)
        self.assertEqual(request(self.port, "GET", f"/reports/{tid}/widgets/summary.json")[0], 404)

        request(self.port, "POST", "/_control", {"summary_format": "none"})
        tid = self.poll_until_done(self.trigger())[1]["task_id"]
        for p in ("widgets/summary.json", "summary.json", "widgets/statistic.json"):
            self.assertEqual(request(self.port, "GET", f"/reports/{tid}/{p}")[0], 404)
        self.assertEqual(request(self.port, "GET", f"/reports/{tid}/")[0], 200)

        request(self.port, "POST", "/_control", {"summary_format": "allure2", "summary": "{broken json"})
        tid = self.poll_until_done(self.trigger())[1]["task_id"]
        self.assertEqual(request(self.port, "GET", f"/reports/{tid}/widgets/summary.json")[2], b"{broken json")

    def test_report_base_url_and_forced_status(self):
        request(self.port, "POST", "/_control", {"report_base_url": "http://elsewhere.example:9/r", "test_seconds": 60})
        tid = self.trigger()
        self.assertEqual(get_json(self.port, f"/_tasks/{tid}", "POST", {"status": "completed"})[0], 200)
        self.assertEqual(get_json(self.port, f"/api/tasks/{tid}")[1]["report_url"], f"http://elsewhere.example:9/r/{tid}/")
        self.assertEqual(get_json(self.port, "/_control", "POST", {"nope": 1})[0], 400)

    def test_state_file_survives_restart(self):
        folder = tempfile.mkdtemp(prefix="crat-ts-")
        state = os.path.join(folder, "state.json")
        try:
            proc, port = start("test_server.py", "--state-file", state, "--deploy-seconds", "0", "--test-seconds", "0")
            try:
                tid = get_json(port, "/api/deploy_and_test", "POST", self.body)[1]["task_id"]
            finally:
                stop(proc)
            proc, port = start("test_server.py", "--state-file", state)
            try:
                time.sleep(0.25)
                status, data = get_json(port, f"/api/tasks/{tid}")
                self.assertEqual((status, data["status"]), (200, "completed"))
            finally:
                stop(proc)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
