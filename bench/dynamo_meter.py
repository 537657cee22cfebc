"""A recording proxy between the AWS SDK and moto's DynamoDB (bench/cloud_cost.sh).

Every DynamoDB JSON request gets `"ReturnConsumedCapacity": "TOTAL"`, is forwarded to
moto, and is recorded: operation, read or write call, moto's ConsumedCapacity, and the
capacity units DynamoDB itself would charge, computed here from the item sizes. moto does
not size items (it answers a flat 1.0 per write, 0.5 per GetItem, nothing for
TransactWriteItems), so the computed units are the ones reported. The rules
(docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):

- item size: attribute names + values (S: UTF-8 bytes, N: (digits+1)/2 + 1, B: bytes,
  BOOL/NULL: 1, L/M: 3 + elements + 1 a element, SS/NS/BS: sum of members);
- write: 1 WCU per KB (rounded up) of the larger of the item before and after; a delete
  the item deleted; a failed condition still 1 WCU per KB of the item; each global
  secondary index the item is (or was) in adds an index write (projection ALL: the
  item's size; an index key change is a delete plus a put);
- read: per 4 KB (rounded up) of the items read (a Query: all items its key condition
  reads, before the filter; a BatchGetItem: each item rounded alone), 1 RCU strongly
  consistent, 0.5 eventually consistent (every index read), at least one unit a request;
- transactions: 2x (TransactWriteItems: each Put/Update/Delete 2 WCU per KB of the
  item, each ConditionCheck 2 WCU per KB of the item checked, index writes as above;
  TransactGetItems 2 RCU per 4 KB).

Reads that size items are sent to moto directly (not recorded, not counted).

Calls on the embedded executor's own records (PK `EXEC#...`, the `EXECS_RUNNING` index)
are counted apart as `executor`: in the cloud Step Functions keeps that state. The
executor's event writes also tell which state is running: a request made while state S
runs is labelled `S#n` (the n-th time S was entered); otherwise it carries the label the
driver set.

Control API (not forwarded): GET /_meter/log (every record since the last reset, and
`events`: the executor's history events seen), POST /_meter/reset, POST /_meter/label
with {"label": "..."}.

Usage: python bench/dynamo_meter.py --port PORT --upstream http://127.0.0.1:MOTO_PORT
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import urllib.error
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PK, SK = "PK", "SK"
INDEXES = {"GSI1": ("GSI1PK", "GSI1SK"), "GSI2": ("GSI2PK", "GSI2SK")}
READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
CAPACITY_OPS = READS | WRITES

# One request at a time: the item sizes read around a write must be that write's.
LOCK = threading.Lock()
STATE = {"label": "idle", "log": [], "events": [], "running": None, "entered": {}}


def value_size(v: dict) -> float:
    (kind, x), = v.items()
    if kind == "S":
        return len(x.encode())
    if kind == "N":
        digits = Decimal(x).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(x) * 3 // 4  # base64
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(e) + 1 for e in x)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(e) + 1 for k, e in x.items())
    if kind == "SS":
        return sum(len(e.encode()) for e in x)
    if kind == "NS":
        return sum(value_size({"N": e}) for e in x)
    if kind == "BS":
        return sum(len(e) * 3 // 4 for e in x)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict | None) -> float:
    if not item:
        return 0
    return sum(len(k.encode()) + value_size(v) for k, v in item.items())


def write_units(size: float) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: float, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return units if consistent else units / 2


class Upstream:
    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def send(self, path: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def call(self, op: str, body: dict) -> dict:
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{op}",
                   "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"}
        status, _, out = self.send("/", headers, json.dumps(body).encode())
        if status != 200:
            raise RuntimeError(f"meter's own {op} failed: {status} {out[:300]!r}")
        return json.loads(out)

    def get(self, table: str, key: dict) -> dict | None:
        return self.call("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}).get("Item")


def key_of(item: dict) -> dict:
    return {PK: item[PK], SK: item[SK]}


def index_writes(before: dict | None, after: dict | None) -> int:
    """Index write units for one item going from `before` to `after` (projection ALL)."""
    units = 0
    for pk, sk in INDEXES.values():
        old = (before[pk], before[sk]) if before and pk in before and sk in before else None
        new = (after[pk], after[sk]) if after and pk in after and sk in after else None
        if old and new and old != new:
            units += write_units(item_size(before)) + write_units(item_size(after))
        elif new and (old is None or before != after):
            units += write_units(item_size(after))
        elif old and new is None:
            units += write_units(item_size(before))
    return units


def is_executor_key(key: dict | None) -> bool:
    return bool(key) and key.get(PK, {}).get("S", "").startswith("EXEC#")


class Meter:
    def __init__(self, upstream: Upstream):
        self.up = upstream

    def handle(self, op: str, req: dict, forward) -> tuple[int, dict, bytes]:
        """Forwards `req` (via `forward(body)`), returning its answer; records the call."""
        table = req.get("TableName")
        before, keys = {}, []
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            key = key_of(req["Item"]) if op == "PutItem" else req["Key"]
            keys = [key]
            before[0] = self.up.get(table, key)
        elif op == "BatchWriteItem":
            for t, writes in req["RequestItems"].items():
                for w in writes:
                    key = key_of(w["PutRequest"]["Item"]) if "PutRequest" in w else w["DeleteRequest"]["Key"]
                    keys.append(key)
                    before[len(keys) - 1] = self.up.get(t, key)
        elif op == "TransactWriteItems":
            for entry in req["TransactItems"]:
                (kind, body), = entry.items()
                key = key_of(body["Item"]) if kind == "Put" else body["Key"]
                keys.append(key)
                before[len(keys) - 1] = self.up.get(body["TableName"], key)
        elif op in ("GetItem",):
            keys = [req["Key"]]

        if op in CAPACITY_OPS:
            req["ReturnConsumedCapacity"] = "TOTAL"
        status, headers, out = forward(json.dumps(req).encode())
        answer = json.loads(out or b"{}")
        ok = status == 200

        rcu = wcu = 0.0
        if op == "GetItem":
            rcu = read_units(item_size(answer.get("Item")), bool(req.get("ConsistentRead")))
        elif op == "BatchGetItem":
            for t, ask in req["RequestItems"].items():
                consistent = bool(ask.get("ConsistentRead"))
                found = (answer.get("Responses") or {}).get(t, [])
                keys.extend(ask["Keys"])
                # Each item rounded alone; a key not found still costs the minimum.
                rcu += sum(read_units(item_size(i), consistent) for i in found)
                rcu += read_units(0, consistent) * max(0, len(ask["Keys"]) - len(found))
        elif op in ("Query", "Scan"):
            rcu = read_units(self.scanned_size(op, req, answer), bool(req.get("ConsistentRead")))
            pk = next((v for k, v in (req.get("ExpressionAttributeValues") or {}).items() if k == ":pk"), None)
            keys = [{PK: pk}] if pk else []
            if pk and pk.get("S") == "EXECS_RUNNING":
                keys = [{PK: {"S": "EXEC#(index)"}}]
        elif op == "TransactGetItems":
            for entry in req["TransactItems"]:
                keys.append(entry["Get"]["Key"])
            rcu = sum(2 * read_units(item_size(i.get("Item")), True) for i in answer.get("Responses", []))
        elif op in ("PutItem", "UpdateItem", "DeleteItem"):
            after = self.up.get(table, keys[0]) if op != "DeleteItem" else None
            wcu = self.write_cost(before[0], after if ok else before[0], op)
        elif op == "BatchWriteItem":
            i = 0
            for t, writes in req["RequestItems"].items():
                for w in writes:
                    after = w["PutRequest"]["Item"] if "PutRequest" in w else None
                    wcu += self.write_cost(before[i], after, "PutItem" if after else "DeleteItem")
                    i += 1
        elif op == "TransactWriteItems":
            for i, entry in enumerate(req["TransactItems"]):
                (kind, body), = entry.items()
                if kind == "ConditionCheck":
                    wcu += 2 * write_units(item_size(before[i]))
                    continue
                after = self.up.get(body["TableName"], keys[i]) if ok and kind != "Delete" else None
                if not ok:
                    after = before[i]
                table_units = write_units(max(item_size(before[i]), item_size(after)))
                wcu += 2 * table_units + index_writes(before[i], after)
        if op == "BatchWriteItem" and ok:
            self.note_events(req)

        executor = any(is_executor_key(k) for k in keys)
        label = "executor" if executor else (self.running_label() or STATE["label"])
        STATE["log"].append({
            "op": op, "kind": "read" if op in READS else "write" if op in WRITES else "other",
            "label": label, "ok": ok, "rcu": rcu, "wcu": wcu,
            "moto_capacity": answer.get("ConsumedCapacity"),
            "keys": [f'{k.get(PK, {}).get("S")}/{k.get(SK, {}).get("S", "")}' for k in keys],
        })
        return status, headers, out

    def write_cost(self, before: dict | None, after: dict | None, op: str) -> float:
        if op == "DeleteItem":
            return write_units(item_size(before)) + index_writes(before, None)
        return write_units(max(item_size(before), item_size(after))) + index_writes(before, after)

    def scanned_size(self, op: str, req: dict, answer: dict) -> float:
        """Bytes the key condition read: the answer's items, or without a filter again."""
        if "FilterExpression" not in req and "ProjectionExpression" not in req:
            return sum(item_size(i) for i in answer.get("Items", []))
        shadow = {k: v for k, v in req.items()
                  if k not in ("FilterExpression", "ProjectionExpression", "Select", "ReturnConsumedCapacity")}
        used = shadow.get("KeyConditionExpression", "")
        for field in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            if field in shadow:
                shadow[field] = {k: v for k, v in shadow[field].items() if k in used}
                if not shadow[field]:
                    del shadow[field]
        return sum(item_size(i) for i in self.up.call(op, shadow).get("Items", []))

    def note_events(self, req: dict) -> None:
        """The executor's history events (BatchWriteItem of `EV#` items) mark what runs."""
        for writes in req.get("RequestItems", {}).values():
            for w in writes:
                item = w.get("PutRequest", {}).get("Item", {})
                if is_executor_key(item) and item.get(SK, {}).get("S", "").startswith("EV#"):
                    event = json.loads(item["event_json"]["S"])
                    STATE["events"].append(event)
                    kind, state = event.get("type", ""), event.get("state")
                    if state and kind.endswith("StateEntered"):
                        n = STATE["entered"].get(state, 0) + 1
                        STATE["entered"][state] = n
                        STATE["running"] = f"{state}#{n}"
                    elif kind.startswith("Execution") and kind != "ExecutionStarted":
                        STATE["running"] = None

    def running_label(self) -> str | None:
        return STATE["running"]


def make_handler(meter: Meter, upstream: Upstream):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def reply(self, status: int, body: bytes, headers: dict | None = None):
            self.send_response(status)
            for k, v in (headers or {"Content-Type": "application/json"}).items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/_meter/log":
                with LOCK:
                    body = json.dumps({"log": STATE["log"], "events": STATE["events"]}).encode()
                return self.reply(200, body)
            self.reply(404, b'{"error": "not a meter path"}')

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/_meter/reset":
                with LOCK:
                    STATE.update(log=[], events=[], entered={}, running=None)
                return self.reply(200, b"{}")
            if self.path == "/_meter/label":
                with LOCK:
                    STATE["label"] = json.loads(body)["label"]
                return self.reply(200, b"{}")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            target = self.headers.get("X-Amz-Target", "")

            def forward(data: bytes):
                return upstream.send(self.path, headers, data)

            with LOCK:
                if target.startswith("DynamoDB_20120810."):
                    status, out_headers, out = meter.handle(target.split(".", 1)[1], json.loads(body), forward)
                else:
                    status, out_headers, out = forward(body)
            self.reply(status, out, out_headers)

    return Handler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="moto's URL")
    args = p.parse_args()
    upstream = Upstream(args.upstream)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Meter(upstream), upstream))
    print(f"dynamo meter on http://{args.host}:{args.port} -> {args.upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
