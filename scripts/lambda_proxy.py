"""A forwarding proxy that puts `cargo lambda watch` behind moto's Lambda endpoint.

moto's Step Functions interpreter invokes a Task's Lambda function with boto3 at
`http://localhost:$MOTO_PORT/2015-03-31/functions/<name or ARN>/invocations`. Start moto
with `MOTO_PORT` set to this proxy's port, and this proxy:

- forwards `POST /2015-03-31/functions/<name or ARN>/invocations` to cargo lambda watch's
  invoke API (an ARN is cut down to its function name), turning a function error (cargo
  lambda answers HTTP 500 with `{"errorType", "errorMessage"}`) into what the Lambda
  Invoke API returns for it: 200, header `X-Amz-Function-Error: Unhandled`, the error JSON
  as the payload (boto3 reads it as `FunctionError`; the interpreter then names the
  failure after `errorType`, e.g. `Crat.PackageNotFound`);
- forwards every other request unchanged to moto's own port.

Python standard library only; one thread per request. One line per Lambda invocation on
stderr (function, status, seconds).

Usage: python scripts/lambda_proxy.py --port P --moto http://127.0.0.1:M --lambda http://127.0.0.1:L
"""

import argparse
import http.client
import re
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/?]+)/invocations(\?.*)?$")
# Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


def function_name(name_or_arn: str) -> str:
    """`download`, `arn:aws:lambda:us-east-1:123456789012:function:download[:qualifier]`
    or `123456789012:function:download` -> `download`."""
    name = urllib.parse.unquote(name_or_arn)
    parts = name.split(":")
    if "function" in parts:
        i = parts.index("function")
        if i + 1 < len(parts):
            return parts[i + 1]
    return name


class Upstream:
    def __init__(self, url: str, timeout: float):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname or not u.port:
            raise SystemExit(f"lambda_proxy: need http://HOST:PORT, got {url!r}")
        self.host, self.port, self.timeout = u.hostname, u.port, timeout

    def request(self, method, path, body, headers):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "crat-lambda-proxy"
    moto: Upstream
    lambdas: Upstream

    def log_message(self, fmt, *args):  # quiet: only our own lines
        pass

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _forward_headers(self):
        return {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}

    def _reply(self, status, headers, body: bytes):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP and k.lower() != "date" and k.lower() != "server":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        body = self._body()
        m = INVOKE_PATH.match(self.path)
        if m and self.command == "POST":
            self._invoke(function_name(m.group(1)), m.group(2) or "", body)
            return
        try:
            status, headers, data = self.moto.request(
                self.command, self.path, body, self._forward_headers()
            )
        except OSError as e:
            self._reply(502, [("Content-Type", "text/plain")], f"moto: {e}".encode())
            return
        self._reply(status, headers, data)

    def _invoke(self, name, query, body):
        started = time.monotonic()
        headers = self._forward_headers()
        try:
            status, resp_headers, data = self.lambdas.request(
                "POST", f"/2015-03-31/functions/{name}/invocations{query}", body, headers
            )
        except OSError as e:
            # Lambda's own answer for an unreachable service: boto3 raises, the
            # interpreter fails the task with States.TaskFailed (and says why).
            msg = f"cargo lambda watch unreachable: {e}"
            print(f"lambda_proxy: invoke {name}: {msg}", file=sys.stderr, flush=True)
            self._reply(
                502,
                [("Content-Type", "application/json"), ("X-Amzn-ErrorType", "ServiceException")],
                ('{"Type":"Service","message":"%s"}' % msg.replace('"', "'")).encode(),
            )
            return
        out_headers = [
            (k, v) for k, v in resp_headers if k.lower() in ("content-type", "x-amz-log-result")
        ]
        out_headers.append(("X-Amz-Executed-Version", "$LATEST"))
        if status >= 500:
            # A function error: Lambda answers 200 and flags it.
            out_headers.append(("X-Amz-Function-Error", "Unhandled"))
            status = 200
        elapsed = time.monotonic() - started
        note = " (function error)" if any(k == "X-Amz-Function-Error" for k, _ in out_headers) else ""
        print(
            f"lambda_proxy: invoke {name} -> {status}{note} in {elapsed:.2f}s: {data[:300]!r}",
            file=sys.stderr,
            flush=True,
        )
        self._reply(status, out_headers, data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--moto", required=True, help="moto's own base URL")
    p.add_argument("--lambda", dest="lambdas", required=True, help="cargo lambda watch's base URL")
    p.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds an invocation may take (the first one compiles the function)",
    )
    a = p.parse_args()
    Handler.moto = Upstream(a.moto, 120)
    Handler.lambdas = Upstream(a.lambdas, a.timeout)
    server = ThreadingHTTPServer((a.host, a.port), Handler)
    server.daemon_threads = True
    print(f"lambda_proxy listening on http://{a.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
