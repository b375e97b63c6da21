#!/usr/bin/env python3
"""Probe of @vercel/cosmosdb-server 1.0.1, the Cosmos DB for NoSQL emulator (standard library only).

Usage:
  probe.py --port PORT     probe a server already listening on https://127.0.0.1:PORT
  probe.py                 start "$VISIOBOOK_COSMOSDB_SERVER" (scripts/lib/cosmos.sh's
                           ensure_cosmosdb_server; else ~/.cache/visiobook/cosmosdb-server/
                           cosmosdb-server) on a free loopback port, probe it, stop it
  -v                       also print each answer's headers and body

Each check sends one REST request and compares the status (and what else it names) with what
1.0.1 answers; it prints one line per check and exits 0 when all match. What it pins down:

* HTTPS (serve.cjs), with the library's self-signed certificate (expired, no subjectAltName):
  the probe does not verify it. No Authorization check at all: none, a master-key token
  (type=master&ver=1.0&sig=...), an AAD token (type=aad&ver=1.0&sig=...) and garbage all pass.
  x-ms-date / x-ms-version are not required either.
* GET / -> 200, the database account, whose writableLocations / readableLocations are
  [{"name":"South Central US","databaseAccountEndpoint":"https://127.0.0.1:PORT/"}]: https whatever
  the server speaks (hard-coded, as is every content-location header), which is why serve.cjs
  serves HTTPS.
* Every answer: content-type application/json, x-ms-activity-id, x-ms-request-charge 1, and
  etag when the body has an _etag. No x-ms-session-token, no x-ms-resource-quota/usage.
  _etag is a bare UUID (no quotes); If-Match is compared to it as a plain string.
* Databases/containers: POST /dbs 201 (409 again), POST /dbs/{db}/colls 201 (409 again, 404
  under a missing db). Documents (the partition is read from the body's /pk on create/upsert):
  create 201 (409 for the same id in the same partition; the same id in another partition is
  another document); replace (PUT) 200, 412 on an If-Match mismatch, 400 when /pk changes, 404
  when missing; upsert (x-ms-documentdb-is-upsert: true) 201 new / 200 existing / 412 If-Match
  mismatch; delete 204 (empty body) / 412 / 404. Replace and delete with no
  x-ms-documentdb-partitionkey header: 500.
* Point reads (GET docs/{id}): 200 when found; in the library a miss (unknown id or wrong
  partition key) is a 500 {"message":"Cannot read properties of undefined (reading 'pk')"} (a bug
  in its partition check) unless the request also carries
  x-ms-documentdb-query-enablecrosspartition: true, which skips that check and gives 404
  {"code":"NotFound",...}; serve.cjs adds that header to reads that name a partition key, so a
  miss is a 404 here; no partition key header: 400 BadRequest.
* GET .../pkranges: one range; the library's id is the number 0, which serve.cjs turns into the
  string "0" that Cosmos DB sends (and the SDK requires).
* Queries (POST docs, application/query+json, x-ms-documentdb-isquery): the partition key header
  is IGNORED for filtering; instead, without x-ms-documentdb-query-enablecrosspartition: true the
  WHERE clause itself must test c.pk with "=" (else 400 {"message":"missing partition keys"}).
  Parameters, ORDER BY on a nested field and x-ms-max-item-count all work (absent or -1: one
  page). A page that is not the last carries x-ms-continuation, a JSON object as text, e.g.
  {"token":"+RID:...#RT:1#TRC:2#RTD:...","range":{"min":"","max":"FF"}}, to send back verbatim
  in x-ms-continuation; the last page has none. Body {"Documents":[...full documents with
  _rid/_etag/_ts...],"_count":n} plus x-ms-item-count. Unknown routes: 400 {"message":"no route"}.
"""

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

VERBOSE = False
# The emulator's certificate is the library's self-signed, expired one: this probe talks only to it.
UNVERIFIED = ssl._create_unverified_context()
FAILURES = []


def request(port, method, path, body=None, headers=None):
    """One request; returns (status, lower-cased headers, parsed body or raw text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=10, context=UNVERIFIED) as resp:
            status, hdrs, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, hdrs, raw = err.code, err.headers, err.read()
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, hdrs, parsed


def check(label, got, want, port, method, path, body=None, headers=None, extra=None):
    """Sends, compares the status with `want` and runs `extra(headers, body)` -> error or None."""
    status, hdrs, parsed = request(port, method, path, body, headers)
    problem = None
    if status != want:
        problem = f"status {status}, expected {want}"
    elif extra is not None:
        problem = extra(hdrs, parsed)
    mark = "ok  " if problem is None else "FAIL"
    note = f" ({problem})" if problem else ""
    print(f"{mark} {label}: {method} {path} -> {status}{note}")
    if VERBOSE or problem:
        for name in sorted(hdrs):
            if name not in ("date", "content-length"):
                print(f"       {name}: {hdrs[name]}")
        print(f"       body: {json.dumps(parsed)[:600]}")
    if problem:
        FAILURES.append(label)
    if got is not None:
        got.update(headers=hdrs, body=parsed)
    return hdrs, parsed


def expect(cond, message):
    return None if cond else message


def probe(port):
    db, coll = "probe-db", "probe-coll"
    docs = f"/dbs/{db}/colls/{coll}/docs"
    pk1 = {"x-ms-documentdb-partitionkey": '["p1"]'}
    query_headers = {
        "Content-Type": "application/query+json",
        "x-ms-documentdb-isquery": "true",
        "x-ms-documentdb-partitionkey": '["p1"]',
        "x-ms-max-item-count": "2",
    }

    # The account.
    def account_ok(h, b):
        loc = [{"name": "South Central US", "databaseAccountEndpoint": f"https://127.0.0.1:{port}/"}]
        return expect(
            b.get("writableLocations") == loc and b.get("readableLocations") == loc
            and b.get("userConsistencyPolicy") == {"defaultConsistencyLevel": "Session"}
            and h.get("x-ms-request-charge") == "1" and "x-ms-activity-id" in h,
            "unexpected account",
        )

    check("account", None, 200, port, "GET", "/", extra=account_ok)

    # Authorization: nothing is checked.
    for name, value in [
        ("auth none", None),
        ("auth master", "type%3Dmaster%26ver%3D1.0%26sig%3DAAAA"),
        ("auth aad", "type%3Daad%26ver%3D1.0%26sig%3DeyJhbGciOi.x.y"),
        ("auth garbage", "not a token"),
    ]:
        headers = {} if value is None else {"Authorization": value}
        check(name, None, 200, port, "GET", "/dbs", headers=headers)

    # Database and container.
    check("create db", None, 201, port, "POST", "/dbs", {"id": db},
          extra=lambda h, b: expect(b["id"] == db and h.get("etag") == b["_etag"], "no etag"))
    check("create db again", None, 409, port, "POST", "/dbs", {"id": db})
    coll_body = {"id": coll, "partitionKey": {"paths": ["/pk"], "kind": "Hash"}}
    check("create coll", None, 201, port, "POST", f"/dbs/{db}/colls", coll_body,
          extra=lambda h, b: expect(b["partitionKey"]["paths"] == ["/pk"], "no partitionKey"))
    check("create coll again", None, 409, port, "POST", f"/dbs/{db}/colls", coll_body)
    check("create coll, no db", None, 404, port, "POST", "/dbs/nope/colls", coll_body)
    check("read coll", None, 200, port, "GET", f"/dbs/{db}/colls/{coll}")
    # serve.cjs turns the library's numeric range id into the string Cosmos DB sends.
    check("pkranges", None, 200, port, "GET", f"/dbs/{db}/colls/{coll}/pkranges",
          extra=lambda h, b: expect([r["id"] for r in b["PartitionKeyRanges"]] == ["0"],
                                    "range ids are not the string \"0\""))

    # Documents.
    created = {}
    doc = {"id": "d1", "pk": "p1", "body": {"kind": "x", "n": 1}}
    check("create doc", created, 201, port, "POST", docs, doc, pk1,
          extra=lambda h, b: expect(h.get("etag") == b.get("_etag") and b["body"] == doc["body"]
                                    and {"_rid", "_self", "_ts"} <= set(b), "bad create body"))
    etag1 = created["body"]["_etag"]
    check("create doc again", None, 409, port, "POST", docs, doc, pk1)
    check("same id, other partition", None, 201, port, "POST", docs,
          {"id": "d1", "pk": "p2", "body": {"kind": "x", "n": 9}},
          {"x-ms-documentdb-partitionkey": '["p2"]'})
    check("read doc", None, 200, port, "GET", f"{docs}/d1", headers=pk1,
          extra=lambda h, b: expect(b["pk"] == "p1" and h.get("etag") == etag1, "wrong doc"))
    # A point read that finds nothing crashes the library's partition check (500, "Cannot read
    # properties of undefined (reading 'pk')") unless the request also says
    # x-ms-documentdb-query-enablecrosspartition: true, which skips that check: then 404.
    # serve.cjs adds that header to every point read, so a miss is the 404 Cosmos DB answers.
    not_found = lambda h, b: expect(b.get("code") == "NotFound", "no NotFound code")
    check("read doc, wrong pk", None, 404, port, "GET", f"{docs}/d1",
          headers={"x-ms-documentdb-partitionkey": '["p3"]'}, extra=not_found)
    check("read missing doc", None, 404, port, "GET", f"{docs}/nope", headers=pk1,
          extra=not_found)
    xp = {"x-ms-documentdb-query-enablecrosspartition": "true"}
    check("read missing doc, crosspartition", None, 404, port, "GET", f"{docs}/nope",
          headers={**pk1, **xp},
          extra=lambda h, b: expect(b.get("code") == "NotFound", "no NotFound code"))
    check("read doc, wrong pk, crosspartition", None, 404, port, "GET", f"{docs}/d1",
          headers={"x-ms-documentdb-partitionkey": '["p3"]', **xp})
    check("read doc, crosspartition", None, 200, port, "GET", f"{docs}/d1", headers={**pk1, **xp},
          extra=lambda h, b: expect(b["pk"] == "p1", "wrong doc"))
    check("read doc, no pk header", None, 400, port, "GET", f"{docs}/d1",
          extra=lambda h, b: expect(b.get("code") == "BadRequest", "no BadRequest code"))

    replaced = {}
    new = {"id": "d1", "pk": "p1", "body": {"kind": "x", "n": 2}}
    check("replace, If-Match wrong", None, 412, port, "PUT", f"{docs}/d1", new,
          {**pk1, "If-Match": "not-the-etag"})
    check("replace, If-Match right", replaced, 200, port, "PUT", f"{docs}/d1", new,
          {**pk1, "If-Match": etag1},
          extra=lambda h, b: expect(b["_etag"] != etag1 and b["body"]["n"] == 2, "not replaced"))
    check("replace, old etag now", None, 412, port, "PUT", f"{docs}/d1", new,
          {**pk1, "If-Match": etag1})
    check("replace, no If-Match", None, 200, port, "PUT", f"{docs}/d1", new, pk1)
    check("replace, pk changed", None, 400, port, "PUT", f"{docs}/d1", {**new, "pk": "p9"}, pk1)
    check("replace, no pk header", None, 500, port, "PUT", f"{docs}/d1", new)
    check("replace missing", None, 404, port, "PUT", f"{docs}/nope",
          {"id": "nope", "pk": "p1"}, pk1)

    upsert = {**pk1, "x-ms-documentdb-is-upsert": "true"}
    check("upsert new", None, 201, port, "POST", docs,
          {"id": "d2", "pk": "p1", "body": {"kind": "x", "n": 3}}, upsert)
    check("upsert existing", None, 200, port, "POST", docs,
          {"id": "d2", "pk": "p1", "body": {"kind": "x", "n": 0}}, upsert)
    check("upsert, If-Match wrong", None, 412, port, "POST", docs,
          {"id": "d2", "pk": "p1"}, {**upsert, "If-Match": "nope"})

    check("create d3", None, 201, port, "POST", docs,
          {"id": "d3", "pk": "p1", "body": {"kind": "y", "n": 5}}, pk1)
    d4 = {}
    check("create d4", d4, 201, port, "POST", docs,
          {"id": "d4", "pk": "p1", "body": {"kind": "x", "n": 4}}, pk1)
    check("delete, If-Match wrong", None, 412, port, "DELETE", f"{docs}/d4",
          headers={**pk1, "If-Match": "nope"})
    check("delete", None, 204, port, "DELETE", f"{docs}/d4",
          headers={**pk1, "If-Match": d4["body"]["_etag"]},
          extra=lambda h, b: expect(b is None, "body on 204"))
    check("delete again", None, 404, port, "DELETE", f"{docs}/d4", headers=pk1)
    check("delete, no pk header", None, 500, port, "DELETE", f"{docs}/d4")
    check("create d5", None, 201, port, "POST", docs,
          {"id": "d5", "pk": "p1", "body": {"kind": "x", "n": 7}}, pk1)
    # p1 now: d1 (x, 2), d2 (x, 0), d3 (y, 5), d5 (x, 7); p2: d1 (x, 9).

    check("read feed", None, 200, port, "GET", docs,
          extra=lambda h, b: expect(b["_count"] == 5 and h.get("x-ms-item-count") == "5", "count"))

    params = [{"name": "@k", "value": "x"}]
    q_no_pk = {"query": "SELECT * FROM c WHERE c.body.kind = @k ORDER BY c.body.n ASC",
               "parameters": params}
    check("query without c.pk in WHERE", None, 400, port, "POST", docs, q_no_pk, query_headers,
          extra=lambda h, b: expect(b == {"message": "missing partition keys"}, "message"))

    def pages(query, headers, label):
        """Follows x-ms-continuation; returns the list of n per page."""
        out, continuation = [], None
        for page in range(10):
            h = dict(headers)
            if continuation is not None:
                h["x-ms-continuation"] = continuation
            got = {}
            check(f"{label} page {page + 1}", got, 200, port, "POST", docs, query, h,
                  extra=lambda hh, b: expect(
                      b["_count"] == len(b["Documents"]) == int(hh["x-ms-item-count"]), "count"))
            out.append([(d["pk"], d["body"]["n"]) for d in got["body"]["Documents"]])
            continuation = got["headers"].get("x-ms-continuation")
            if VERBOSE or page == 0:
                print(f"       x-ms-continuation: {continuation!r}")
            if continuation is None:
                return out
        FAILURES.append(f"{label}: more than 10 pages")
        return out

    cross = pages(q_no_pk, {**query_headers, "x-ms-documentdb-query-enablecrosspartition": "true"},
                  "cross-partition query")
    want = [[("p1", 0), ("p1", 2)], [("p1", 7), ("p2", 9)]]
    print(f"       pages: {cross}")
    if cross != want:
        FAILURES.append(f"cross-partition query pages {cross} != {want}")

    q_pk = {"query": "SELECT * FROM c WHERE c.pk = @pk AND c.body.kind = @k ORDER BY c.body.n ASC",
            "parameters": [{"name": "@pk", "value": "p1"}, *params]}
    single = pages(q_pk, query_headers, "query with c.pk = @pk")
    want = [[("p1", 0), ("p1", 2)], [("p1", 7)]]
    print(f"       pages: {single}")
    if single != want:
        FAILURES.append(f"query with c.pk pages {single} != {want}")

    # The header names p2, the WHERE p1: the header is not used to filter.
    ignored = pages(q_pk, {**query_headers, "x-ms-documentdb-partitionkey": '["p2"]',
                           "x-ms-max-item-count": "10"}, "header p2, WHERE p1")
    if ignored != [[("p1", 0), ("p1", 2), ("p1", 7)]]:
        FAILURES.append(f"header p2 / WHERE p1 gave {ignored}")

    for label, count in [("no x-ms-max-item-count", None), ("x-ms-max-item-count -1", "-1")]:
        h = {k: v for k, v in query_headers.items() if k != "x-ms-max-item-count"}
        if count is not None:
            h["x-ms-max-item-count"] = count
        check(label, None, 200, port, "POST", docs, q_pk, h,
              extra=lambda hh, b: expect(b["_count"] == 3 and "x-ms-continuation" not in hh
                                         and {"_etag", "_rid", "_ts"} <= set(b["Documents"][0]),
                                         "not one whole page of full documents"))
    check("query syntax error", None, 400, port, "POST", docs,
          {"query": "SELECT FROM WHERE", "parameters": []},
          {**query_headers, "x-ms-documentdb-query-enablecrosspartition": "true"})
    check("unknown route", None, 400, port, "GET", "/nothing/here",
          extra=lambda h, b: expect(b == {"message": "no route"}, "message"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    global VERBOSE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    VERBOSE = args.verbose

    child = None
    port = args.port
    if port is None:
        exe = os.environ.get("VISIOBOOK_COSMOSDB_SERVER") or os.path.expanduser(
            "~/.cache/visiobook/cosmosdb-server/cosmosdb-server")
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe} missing: run ensure_cosmosdb_server (scripts/lib/cosmos.sh)")
        started = time.monotonic()
        child = subprocess.Popen([exe, str(free_port())], stdout=subprocess.PIPE, text=True)
        line = child.stdout.readline().strip()
        if not line.startswith("listening "):
            child.kill()
            sys.exit(f"cosmosdb-server did not start: {line!r}")
        port = int(line.split()[1])
        print(f"started {exe} on port {port} in {time.monotonic() - started:.2f} s")
    try:
        probe(port)
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=10)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed: {', '.join(FAILURES)}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
