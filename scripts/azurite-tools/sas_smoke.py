#!/usr/bin/env python3
"""Smoke test of Azurite's blob service with SAS tokens (standard library only).

Usage:
  sas_smoke.py --port PORT     check an azurite-blob already listening on 127.0.0.1:PORT
  sas_smoke.py                 start "$VISIOBOOK_AZURITE_BLOB" (scripts/lib/azurite.sh's
                               ensure_azurite) on a free loopback port with the flags the tests
                               use, check it, stop it

azurite 3.35.0 refuses --inMemoryPersistence together with --location ("The --inMemoryPersistence
option is not supported when the --location option is set.", exit 1), so it is started with
--inMemoryPersistence and no --location, its working directory a fresh temporary one.

It creates a container with an account SAS, puts and gets a blob with a service (blob) SAS, checks
that a wrong signature is refused (403), and sends one request with the x-ms-version of the Rust
SDK azure_storage_blob 1.1 (2026-04-06, newer than azurite 3.35.0's 2025-11-05), which only passes
with --skipApiVersionCheck. Exits 0 when all pass.

Account: Azurite's published development account (README, "Default Storage Account"):
  name devstoreaccount1, key Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
URLs are path-style: http://127.0.0.1:PORT/devstoreaccount1/CONTAINER/BLOB?SAS

Signature: sig = base64(HMAC-SHA256(key = base64decode(account key), msg = UTF-8 string-to-sign)),
percent-encoded in the query like every other value. The string-to-sign holds the values as they
are before URL encoding, joined by "\n". Empty optional fields stay as empty lines.

Account SAS, sv >= 2020-12-06 (Azurite's generateAccountSASSignature20201206; 10 fields and a
trailing "\n"):
  accountname \n sp \n ss \n srt \n st \n se \n sip \n spr \n sv \n ses \n
  here: "devstoreaccount1\nrwdlac\nb\nsco\n\n2099-01-01T00:00:00Z\n\nhttp,https\n2021-08-06\n\n"
  query: sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&spr=http,https&sig=...

Service (blob) SAS, sv >= 2020-12-06 (Azurite's generateBlobSASSignature20201206; 16 fields, no
trailing "\n"):
  sp \n st \n se \n canonicalizedResource \n si \n sip \n spr \n sv \n sr \n
  signedSnapshotTime \n ses \n rscc \n rscd \n rsce \n rscl \n rsct
  canonicalizedResource = "/blob/devstoreaccount1/CONTAINER/BLOB" (sr=b) or
                          "/blob/devstoreaccount1/CONTAINER" (sr=c)
  here (sr=b, sp=rcw): "rcw\n\n2099-01-01T00:00:00Z\n/blob/devstoreaccount1/CONTAINER/BLOB\n\n\n
                        http,https\n2021-08-06\nb\n\n\n\n\n\n\n"  (one string; 16 fields)
  query: sv=2021-08-06&sr=b&sp=rcw&se=2099-01-01T00:00:00Z&spr=http,https&sig=...

sv: Azurite 3.35.0 does not check sv against its list of API versions (that list is only applied
to the x-ms-version header); it picks the string-to-sign by comparing sv as a string: >= 2020-12-06
gives the formats above (2018-11-09.. uses the service format without ses; older ones the 2015
formats). Checked here with sv 2021-08-06, 2025-11-05 and 2026-04-06 (--sv to try others).
"""

import argparse
import base64
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
EXPIRY = "2099-01-01T00:00:00Z"
PROTOCOL = "http,https"
SDK_VERSION = "2026-04-06"  # azure_storage_blob 1.1.0's DEFAULT_VERSION


def sign(string_to_sign: str) -> str:
    mac = hmac.new(base64.b64decode(KEY), string_to_sign.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def query(params: dict) -> str:
    return urllib.parse.urlencode(params, safe="", quote_via=urllib.parse.quote)


def account_sas(sv: str, permissions: str = "rwdlac") -> str:
    fields = [ACCOUNT, permissions, "b", "sco", "", EXPIRY, "", PROTOCOL, sv, "", ""]
    sig = sign("\n".join(fields))
    return query({"sv": sv, "ss": "b", "srt": "sco", "sp": permissions, "se": EXPIRY,
                  "spr": PROTOCOL, "sig": sig})


def blob_sas(sv: str, container: str, blob: str, permissions: str = "rcw") -> str:
    resource = f"/blob/{ACCOUNT}/{container}/{blob}"
    fields = [permissions, "", EXPIRY, resource, "", "", PROTOCOL, sv, "b",
              "", "", "", "", "", "", ""]
    assert len(fields) == 16
    sig = sign("\n".join(fields))
    return query({"sv": sv, "sr": "b", "sp": permissions, "se": EXPIRY, "spr": PROTOCOL,
                  "sig": sig})


def request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def check(port: int, versions) -> bool:
    base = f"http://127.0.0.1:{port}/{ACCOUNT}"
    ok = True

    def expect(what, got, want, body=b""):
        nonlocal ok
        good = got == want
        ok &= good
        detail = "" if good else " " + body[:300].decode("utf-8", "replace")
        print(f"{'ok  ' if good else 'FAIL'} {what}: {got} (want {want}){detail}")

    for sv in versions:
        container = f"smoke-{sv.replace('-', '')}-{int(time.time() * 1000) % 10**9}"
        blob = "dir/hello world.txt"
        blob_url = f"{base}/{container}/{urllib.parse.quote(blob)}"
        payload = f"hello from sv {sv}".encode()
        status, body = request("PUT", f"{base}/{container}?restype=container&{account_sas(sv)}",
                               headers={"x-ms-version": "2025-11-05"})
        expect(f"sv={sv} create container (account SAS)", status, 201, body)
        status, body = request("PUT", f"{blob_url}?{blob_sas(sv, container, blob)}", payload,
                               {"x-ms-blob-type": "BlockBlob", "x-ms-version": "2025-11-05",
                                "Content-Type": "text/plain"})
        expect(f"sv={sv} put blob (service SAS)", status, 201, body)
        status, body = request("GET", f"{blob_url}?{blob_sas(sv, container, blob)}",
                               headers={"x-ms-version": "2025-11-05"})
        expect(f"sv={sv} get blob (service SAS)", status, 200, body)
        if status == 200 and body != payload:
            ok = False
            print(f"FAIL sv={sv} get blob returned {body!r}, want {payload!r}")
        bad = blob_sas(sv, container, blob).replace("sig=", "sig=AAAA")
        status, body = request("GET", f"{blob_url}?{bad}", headers={"x-ms-version": "2025-11-05"})
        expect(f"sv={sv} get blob with a wrong signature", status, 403, body)
        status, body = request("GET", f"{blob_url}?{blob_sas(sv, container, blob)}",
                               headers={"x-ms-version": SDK_VERSION})
        expect(f"sv={sv} get blob with x-ms-version {SDK_VERSION}", status, 200, body)
    return ok


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="port of a running azurite-blob on 127.0.0.1")
    parser.add_argument("--sv", action="append",
                        help="SAS service version(s) to try (default 2021-08-06, 2025-11-05, 2026-04-06)")
    args = parser.parse_args()
    versions = args.sv or ["2021-08-06", "2025-11-05", SDK_VERSION]
    if args.port:
        return 0 if check(args.port, versions) else 1

    exe = os.environ.get("VISIOBOOK_AZURITE_BLOB")
    if not exe:
        print("VISIOBOOK_AZURITE_BLOB is not set (run ensure_azurite) and no --port given",
              file=sys.stderr)
        return 2
    port = free_port()
    location = tempfile.mkdtemp(prefix="azurite-smoke-")
    started = time.monotonic()
    proc = subprocess.Popen([exe, "--blobHost", "127.0.0.1", "--blobPort", str(port),
                             "--inMemoryPersistence", "--disableTelemetry",
                             "--skipApiVersionCheck", "--silent"], cwd=location)
    try:
        while True:
            if proc.poll() is not None:
                print(f"azurite-blob exited with {proc.returncode}", file=sys.stderr)
                return 1
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() - started > 30:
                    print("azurite-blob did not listen within 30 s", file=sys.stderr)
                    return 1
                time.sleep(0.05)
        print(f"azurite-blob listening on 127.0.0.1:{port} after "
              f"{time.monotonic() - started:.2f} s")
        return 0 if check(port, versions) else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(location, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
