#!/usr/bin/env python3
"""A development double of the team's package server: nginx with `autoindex on;`.

Python 3.11 standard library only.

    python3 devpeers/package_server.py --root DIR [--host 127.0.0.1] [--port 0]
                                       [--format html|json] [--verbose]

The first stdout line is `package server on http://HOST:PORT` (flushed), so a test can
start it on port 0 and read the port back.

What it serves (the way nginx 1.2x does with `autoindex on; autoindex_exact_size on;
autoindex_localtime off; charset off;`):

* `GET|HEAD /path/file`: the file, streamed from disk (never read whole into memory),
  with `Content-Length`, `Last-Modified`, `ETag` and `Accept-Ranges: bytes`; a single
  `Range: bytes=a-b` answers 206. Missing → 404.
* `GET /path/dir/`: the autoindex listing. HTML by default, byte for byte as nginx writes
  it (CRLF lines, `<a href="percent-encoded">html-escaped text</a>`, padding to column 50,
  names longer than 50 bytes cut to 47 + `..&gt;`, `dd-Mon-yyyy HH:MM`, size in 19
  columns or `-` for directories, directories first, then byte-wise name order, dot
  files hidden). `--format json` gives nginx's `autoindex_format json;` output.
* `GET /path/dir` (no trailing slash): 301 with `Location: http://<Host>/path/dir/`.
* Anything resolving outside `--root` (`..` segments, NUL bytes, symlinks pointing out) →
  400 / 404; it never serves a byte outside the root.

Test control API (paths starting with `/_` are reserved for it and never logged):

* `POST /_control` JSON, one fault for one path (the URL path, percent-decoded, as the
  client requests it, e.g. `/CDN/x/cds-1.tar.gz`, or a listing such as `/CDN/x/`;
  `*` and `?` in `path` are glob wildcards):
      {"path": "/CDN/x/cds-1.tar.gz", "fault": "truncate"}
      {"path": "...", "fault": "slow", "kib_per_s": 64}          (default 64 KiB/s)
      {"path": "...", "fault": "status=500"}                    (or "fault": "status", "status": 503)
      {"path": "...", "fault": "corrupt"}                       (same length, one byte flipped in the middle)
      {"path": "...", "fault": "delay", "seconds": 5}           (sleep, then answer normally)
      {"path": "...", "fault": "reset"}                         (close the connection with no answer)
  optional `"count": N` in any of them: only the next N matching requests get the fault,
  after that the path is served normally again (default: until cleared).
  A later POST for the same path replaces its fault. Answer: 200 {"faults": {...}}.
  `POST /_control {"listing_format": "json"|"html"}` switches the listing format at run time.
* `DELETE /_control` clears every fault (with a JSON body {"path": ...}: only that one).
* `GET /_control` → {"faults": {path: spec}, "listing_format": "html"|"json"}.
* `GET /_requests` → [{"method", "path", "query", "status", "range", "time"}, ...] in
  arrival order (path percent-decoded); `DELETE /_requests` clears the log.
* `GET /_health` → {"status": "ok"}.

Fault semantics:
* truncate: headers promise the full `Content-Length` (206 range: the range length), half
  of those bytes are sent, then the socket is shut down: the client sees an early EOF.
* slow: the body is sent in small chunks paced to `kib_per_s` KiB per second.
* status=NNN: answers NNN with nginx's error page (for files and listings alike).
* corrupt: full length, but the byte at the middle of the file is XOR-ed with 0xFF
  (size check passes, digest / gzip check fails).
"""

from __future__ import annotations

import argparse
import email.utils
import fnmatch
import json
import os
import re
import socket
import stat
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME_LEN = 50  # NGX_HTTP_AUTOINDEX_NAME_LEN
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
CHUNK = 256 * 1024

# nginx's NGX_ESCAPE_URI_COMPONENT: everything but ALPHA, DIGIT, "-", ".", "_", "~".
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

MIME = {
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
    ".txt": "text/plain",
    ".css": "text/css",
    ".js": "application/javascript",
    ".xml": "text/xml",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

STATUS_TEXT = {
    301: "Moved Permanently",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Not Allowed",
    416: "Requested Range Not Satisfiable",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


# ----------------------------------------------------------------------------- formats


def escape_uri_component(name: bytes) -> bytes:
    out = bytearray()
    for b in name:
        if b in _UNRESERVED:
            out.append(b)
        else:
            out += b"%%%02X" % b
    return bytes(out)


def escape_uri(path: bytes) -> bytes:
    # nginx's NGX_ESCAPE_URI (used for the 301 Location): " ", "#", "%", "?", controls, >= 0x7F.
    out = bytearray()
    for b in path:
        if b <= 0x20 or b >= 0x7F or b in b"#%?":
            out += b"%%%02X" % b
        else:
            out.append(b)
    return bytes(out)


def escape_html(data: bytes) -> bytes:
    # ngx_escape_html: < > & " only (not ').
    return (
        data.replace(b"&", b"&amp;")
        .replace(b"<", b"&lt;")
        .replace(b">", b"&gt;")
        .replace(b'"', b"&quot;")
    )


def escape_json(data: bytes) -> bytes:
    # ngx_escape_json: \ and " escaped, control bytes as \n \r \t \b \f or \u00XX; others raw.
    out = bytearray()
    short = {0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t", 0x08: b"\\b", 0x0C: b"\\f"}
    for b in data:
        if b > 0x1F:
            if b in (0x5C, 0x22):
                out.append(0x5C)
            out.append(b)
        elif b in short:
            out += short[b]
        else:
            out += b"\\u%04X" % b
    return bytes(out)


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


class Entry:
    __slots__ = ("name", "is_dir", "is_file", "mtime", "size")

    def __init__(self, name: bytes, is_dir: bool, is_file: bool, mtime: int, size: int):
        self.name = name
        self.is_dir = is_dir
        self.is_file = is_file
        self.mtime = mtime
        self.size = size


def read_entries(directory: bytes) -> list[Entry]:
    entries = []
    with os.scandir(directory) as it:
        for de in it:
            if de.name.startswith(b"."):
                continue  # nginx's autoindex hides dot files
            try:
                st = os.stat(de.path)
            except OSError:
                try:
                    st = os.lstat(de.path)
                except OSError:
                    continue
            entries.append(
                Entry(de.name, stat.S_ISDIR(st.st_mode), stat.S_ISREG(st.st_mode), int(st.st_mtime), st.st_size)
            )
    # ngx_http_autoindex_cmp_entries: directories first, then strcmp on the bytes.
    entries.sort(key=lambda e: (0 if e.is_dir else 1, e.name))
    return entries


def render_html(uri: bytes, entries: list[Entry]) -> bytes:
    """The exact bytes of nginx's ngx_http_autoindex_html() (charset off, exact size, GMT)."""
    u = escape_html(uri)
    out = bytearray()
    out += b"<html>\r\n<head><title>Index of " + u + b"</title></head>\r\n<body>\r\n<h1>Index of " + u + b"</h1>"
    out += b'<hr><pre><a href="../">../</a>\r\n'
    for e in entries:
        out += b'<a href="' + escape_uri_component(e.name)
        if e.is_dir:
            out += b"/"
        out += b'">'
        n = len(e.name)  # utf_len == byte length when charset is off (nginx's default)
        if n > NAME_LEN:
            out += escape_html(e.name[: NAME_LEN - 3]) + b"..&gt;</a>"
        else:
            out += escape_html(e.name)
            if e.is_dir and NAME_LEN - n > 0:
                out += b"/"
                n += 1
            out += b"</a>"
            if NAME_LEN - n > 0:
                out += b" " * (NAME_LEN - n)
        out += b" "
        tm = time.gmtime(e.mtime)
        out += b"%02d-%s-%d %02d:%02d " % (tm.tm_mday, MONTHS[tm.tm_mon - 1].encode(), tm.tm_year, tm.tm_hour, tm.tm_min)
        if e.is_dir:
            out += b"                  -"
        else:
            out += b"%19d" % e.size
        out += b"\r\n"
    out += b"</pre><hr></body>\r\n</html>\r\n"
    return bytes(out)


def render_json(entries: list[Entry]) -> bytes:
    """The exact bytes of nginx's ngx_http_autoindex_json()."""
    out = bytearray(b"[")
    for e in entries:
        out += b'\r\n{ "name":"' + escape_json(e.name) + b'", "type":"'
        out += b"directory" if e.is_dir else (b"file" if e.is_file else b"other")
        out += b'", "mtime":"' + http_date(e.mtime).encode()
        if e.is_file:
            out += b'", "size":' + str(e.size).encode()
        else:
            out += b'"'
        out += b" },"
    if entries:
        del out[-1]
    out += b"\r\n]"
    return bytes(out)


def error_page(status: int) -> bytes:
    text = f"{status} {STATUS_TEXT.get(status, 'Error')}".encode()
    return (
        b"<html>\r\n<head><title>" + text + b"</title></head>\r\n<body>\r\n<center><h1>" + text
        + b"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


# ----------------------------------------------------------------------------- state


class State:
    def __init__(self, root: str, listing_format: str):
        self.root = os.path.realpath(root).encode()
        self.listing_format = listing_format
        self.lock = threading.Lock()
        self.faults: dict[str, dict] = {}
        self.requests: list[dict] = []

    def take_fault(self, path: str) -> dict | None:
        """The fault for this path (consuming one use when it has a count)."""
        with self.lock:
            key = path if path in self.faults else None
            if key is None:
                for pattern in self.faults:
                    if any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(path, pattern):
                        key = pattern
                        break
            if key is None:
                return None
            spec = self.faults[key]
            if spec.get("count") is not None:
                spec["count"] -= 1
                if spec["count"] <= 0:
                    del self.faults[key]
            return dict(spec)


def parse_fault(body: dict) -> dict:
    fault = body.get("fault")
    if not isinstance(fault, str):
        raise ValueError("fault must be a string")
    spec: dict = {}
    if fault.startswith("status"):
        code = fault.partition("=")[2] or body.get("status", 500)
        spec = {"fault": "status", "status": int(code)}
        if not 100 <= spec["status"] <= 599:
            raise ValueError("status out of range")
    elif fault == "slow":
        spec = {"fault": "slow", "kib_per_s": float(body.get("kib_per_s", body.get("rate", 64)))}
        if spec["kib_per_s"] <= 0:
            raise ValueError("kib_per_s must be > 0")
    elif fault == "delay":
        spec = {"fault": "delay", "seconds": float(body.get("seconds", 5))}
    elif fault in ("truncate", "corrupt", "reset"):
        spec = {"fault": fault}
    else:
        raise ValueError(f"unknown fault {fault!r} (truncate, slow, status=NNN, corrupt, delay, reset)")
    if body.get("count") is not None:
        spec["count"] = int(body["count"])
        if spec["count"] <= 0:
            raise ValueError("count must be > 0")
    return spec


# ----------------------------------------------------------------------------- handler


class Handler(BaseHTTPRequestHandler):
    server_version = "nginx"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    state: State  # set on the class by main()
    verbose = False

    # -- plumbing

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        if self.verbose:
            sys.stderr.write("package_server: %s - %s\n" % (self.address_string(), format % args))

    def version_string(self):
        return "nginx"

    _pending_log = None

    def send_response(self, code, message=None):
        if self._pending_log is not None:
            self._log(*self._pending_log, code)
            self._pending_log = None
        super().send_response(code, message)

    def _send(self, status: int, body: bytes, ctype: str = "text/html", headers: dict | None = None, head=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, (json.dumps(obj, indent=1) + "\n").encode(), "application/json")

    def _error(self, status: int, head=False, headers=None) -> None:
        self._send(status, error_page(status), "text/html", headers, head)

    def _log(self, method: str, path: str, query: str, status: int) -> None:
        with self.state.lock:
            self.state.requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "status": status,
                    "range": self.headers.get("Range"),
                    "time": time.time(),
                }
            )

    def _read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw.strip():
            return {}
        return json.loads(raw)

    def _reset_connection(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    # -- verbs

    def do_GET(self):
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path != "/_control":
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            self._error(405)
            return
        try:
            body = self._read_json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            with self.state.lock:
                if "listing_format" in body:
                    if body["listing_format"] not in ("html", "json"):
                        raise ValueError("listing_format must be html or json")
                    self.state.listing_format = body["listing_format"]
            if "path" in body or "fault" in body:
                if not isinstance(body.get("path"), str) or not body["path"].startswith("/"):
                    raise ValueError("path must be a URL path starting with /")
                spec = parse_fault(body)
                with self.state.lock:
                    self.state.faults[body["path"]] = spec
        except (ValueError, TypeError) as e:
            self._json(400, {"error": str(e)})
            return
        self._control_view()

    def do_DELETE(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_control":
            try:
                body = self._read_json()
            except ValueError:
                body = {}
            with self.state.lock:
                if isinstance(body, dict) and body.get("path"):
                    self.state.faults.pop(body["path"], None)
                else:
                    self.state.faults.clear()
            self._control_view()
        elif path == "/_requests":
            with self.state.lock:
                self.state.requests.clear()
            self._json(200, [])
        else:
            self._error(405)

    def _control_view(self):
        with self.state.lock:
            view = {"faults": {k: dict(v) for k, v in self.state.faults.items()}, "listing_format": self.state.listing_format}
        self._json(200, view)

    # -- serving

    def _serve(self, head: bool):
        split = urllib.parse.urlsplit(self.path)
        raw_path = split.path
        if raw_path == "/_control":
            self._control_view()
            return
        if raw_path == "/_requests":
            with self.state.lock:
                log = list(self.state.requests)
            self._json(200, log)
            return
        if raw_path == "/_health":
            self._json(200, {"status": "ok"})
            return

        upath = re.sub(rb"/{2,}", b"/", urllib.parse.unquote_to_bytes(raw_path))  # nginx merge_slashes
        display = upath.decode("utf-8", "replace")
        # Logged when the status line goes out (send_response), before any byte of the answer:
        # a client that has its answer always finds the request in GET /_requests.
        self._pending_log = ("HEAD" if head else "GET", display, split.query)
        status = self._serve_path(upath, display, split.query, head)
        if self._pending_log is not None:  # a fault that sent no status line
            self._log(*self._pending_log, status)
            self._pending_log = None

    def _serve_path(self, upath: bytes, display: str, query: str, head: bool) -> int:
        if not upath.startswith(b"/") or b"\x00" in upath or b"\\" in upath:
            self._error(400, head)
            return 400
        segments = upath.split(b"/")
        if any(s == b".." for s in segments):
            self._error(400, head)
            return 400

        fault = self.state.take_fault(display)
        if fault:
            kind = fault["fault"]
            if kind == "status":
                self._error(fault["status"], head)
                return fault["status"]
            if kind == "reset":
                self._reset_connection()
                return 0
            if kind == "delay":
                time.sleep(fault["seconds"])
                fault = None

        root = self.state.root
        fs_path = os.path.normpath(os.path.join(root, upath.lstrip(b"/")))
        real = os.path.realpath(fs_path)
        if not (real == root or real.startswith(root + b"/")):
            self._error(404, head)
            return 404
        try:
            st = os.stat(real)
        except OSError:
            self._error(404, head)
            return 404

        if stat.S_ISDIR(st.st_mode):
            if not upath.endswith(b"/"):
                host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
                location = "http://" + host + escape_uri(upath + b"/").decode("ascii")
                if query:
                    location += "?" + query
                self._error(301, head, {"Location": location})
                return 301
            return self._listing(real, upath, head, fault)
        if not stat.S_ISREG(st.st_mode):
            self._error(404, head)
            return 404
        if upath.endswith(b"/"):
            self._error(404, head)
            return 404
        return self._file(real, st, head, fault)

    def _listing(self, real: bytes, upath: bytes, head: bool, fault: dict | None) -> int:
        try:
            entries = read_entries(real)
        except PermissionError:
            self._error(403, head)
            return 403
        if self.state.listing_format == "json":
            body, ctype = render_json(entries), "application/json"
        else:
            body, ctype = render_html(upath, entries), "text/html"
        self._body(200, body, ctype, {}, head, fault)
        return 200

    def _body(self, status, body: bytes, ctype, headers, head, fault):
        """Send an in-memory body, applying truncate / slow / corrupt."""
        if fault and fault["fault"] == "corrupt" and body:
            mid = len(body) // 2
            body = body[:mid] + bytes([body[mid] ^ 0xFF]) + body[mid + 1 :]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        if fault and fault["fault"] == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self._shutdown()
        elif fault and fault["fault"] == "slow":
            self._paced(iter([body]), fault["kib_per_s"])
        else:
            self.wfile.write(body)

    def _file(self, real: bytes, st: os.stat_result, head: bool, fault: dict | None) -> int:
        size = st.st_size
        mtime = int(st.st_mtime)
        headers = {
            "Last-Modified": http_date(mtime),
            "ETag": '"%x-%x"' % (mtime, size),
            "Accept-Ranges": "bytes",
        }
        start, end = 0, size  # [start, end)
        status = 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and "," not in rng:
            a, _, b = rng[6:].strip().partition("-")
            try:
                if a == "":
                    n = int(b)
                    start, end = max(0, size - n), size
                else:
                    start = int(a)
                    end = min(size, int(b) + 1) if b else size
                if start >= size or start >= end:
                    self._error(416, head, {"Content-Range": f"bytes */{size}"})
                    return 416
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
            except ValueError:
                start, end, status = 0, size, 200
        length = end - start
        ext = os.path.splitext(real)[1].decode("utf-8", "replace").lower()

        try:
            f = open(real, "rb")
        except PermissionError:
            self._error(403, head)
            return 403
        with f:
            self.send_response(status)
            self.send_header("Content-Type", MIME.get(ext, "application/octet-stream"))
            self.send_header("Content-Length", str(length))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if head or length == 0:
                return status
            kind = fault["fault"] if fault else None
            try:
                if kind is None:
                    self.connection.sendfile(f, start, length)
                elif kind == "truncate":
                    self._copy(f, start, length // 2)
                    self._shutdown()
                elif kind == "slow":
                    self._paced(self._chunks(f, start, length, 16 * 1024), fault["kib_per_s"])
                elif kind == "corrupt":
                    flip = size // 2
                    for off, chunk in self._chunks_at(f, start, length, CHUNK):
                        if off <= flip < off + len(chunk):
                            i = flip - off
                            chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1 :]
                        self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
        return status

    # -- body helpers

    def _chunks_at(self, f, start: int, length: int, size: int):
        f.seek(start)
        off = start
        left = length
        while left > 0:
            chunk = f.read(min(size, left))
            if not chunk:
                break
            yield off, chunk
            off += len(chunk)
            left -= len(chunk)

    def _chunks(self, f, start, length, size):
        for _, chunk in self._chunks_at(f, start, length, size):
            yield chunk

    def _copy(self, f, start: int, length: int) -> None:
        for chunk in self._chunks(f, start, length, CHUNK):
            self.wfile.write(chunk)

    def _paced(self, chunks, kib_per_s: float) -> None:
        rate = kib_per_s * 1024.0
        step = max(1, min(16 * 1024, int(rate / 10) or 1))
        t0 = time.monotonic()
        sent = 0
        for chunk in chunks:
            for i in range(0, len(chunk), step):
                piece = chunk[i : i + step]
                self.wfile.write(piece)
                sent += len(piece)
                ahead = sent / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)

    def _shutdown(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="nginx autoindex look-alike for CRAT's development and tests")
    p.add_argument("--root", required=True, help="folder to serve")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--format", choices=["html", "json"], default="html", help="autoindex_format")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)
    if not os.path.isdir(a.root):
        p.error(f"--root {a.root!r} is not a directory")

    Handler.state = State(a.root, a.format)
    Handler.verbose = a.verbose
    server = Server((a.host, a.port), Handler)
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"package server on http://{shown}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
