#!/usr/bin/env python3
"""A real SMTP server for functions/notify/tests/notify/smtp/, built on aiosmtpd, that saves
every message it accepts.

    smtp_sink.py --port PORT --folder DIR [--mode plain|starttls|smtps]
                 [--cert CERT.pem --key KEY.pem] [--auth USER:PASSWORD] [--refuse-data]

- plain: no TLS; starttls: STARTTLS offered and required before MAIL; smtps: implicit TLS.
- --auth: AUTH (PLAIN, LOGIN) offered after TLS and required before MAIL.
- Each accepted message: DIR/<n>.eml (the bytes as received) and DIR/<n>.json
  ({"mail_from", "rcpt_tos", "tls", "tls_version", "auth_login"}), written atomically
  (.tmp then rename); the .json is written last.
- Recipients whose local part is "reject550" or "defer451" are refused with that reply.
- --refuse-data: every message is refused at DATA with 554 (a whole-mail refusal); each
  refusal is counted as an empty file DIR/refused-<n>.data.
- Prints "ready <port>" on stdout once it accepts connections; runs until killed.
"""

import argparse
import itertools
import json
import logging
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Sink:
    def __init__(self, folder, refuse_data=False):
        self.folder = folder
        self.refuse_data = refuse_data
        self.refused = itertools.count(1)
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "reject550":
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if local == "defer451":
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_data:
            with self.lock:
                n = next(self.refused)
            write_atomically(os.path.join(self.folder, "refused-%d.data" % n), b"")
            return "554 5.6.0 message refused by policy"
        with self.lock:
            n = next(self.counter)
        content = envelope.original_content
        if content is None:
            content = envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        ssl_object = server.transport.get_extra_info("ssl_object")
        login = None
        if isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode("utf-8", "replace")
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": ssl_object is not None,
            "tls_version": ssl_object.version() if ssl_object is not None else None,
            "auth_login": login,
        }
        base = os.path.join(self.folder, str(n))
        write_atomically(base + ".eml", content)
        write_atomically(base + ".json", json.dumps(meta).encode("utf-8"))
        return "250 2.0.0 Message %d accepted for delivery" % n


def main():
    # aiosmtpd itself logs a deprecation warning on every AUTH; keep test output quiet.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--folder", required=True)
    p.add_argument("--mode", choices=["plain", "starttls", "smtps"], default="plain")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", help="USER:PASSWORD")
    p.add_argument("--refuse-data", action="store_true")
    a = p.parse_args()
    os.makedirs(a.folder, exist_ok=True)

    kwargs = {}
    if a.mode != "plain":
        if not (a.cert and a.key):
            p.error("--cert and --key are required for %s" % a.mode)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        if a.mode == "smtps":
            kwargs["ssl_context"] = ctx
        else:
            kwargs["tls_context"] = ctx
            kwargs["require_starttls"] = True
    if a.auth:
        user, _, password = a.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login == user.encode()
                and auth_data.password == password.encode()
            )
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        # AUTH only over TLS, as a real server does; in plain mode allow it without.
        kwargs["auth_require_tls"] = a.mode != "plain"

    controller = Controller(Sink(a.folder, a.refuse_data), hostname=a.host, port=a.port, **kwargs)
    controller.start()
    print("ready %d" % a.port, flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # Also stop when the parent (the test) goes away and closes our stdin.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
