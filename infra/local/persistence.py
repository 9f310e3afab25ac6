"""Durable state for the local moto server: a snapshot plus a journal of the writes made since.

moto keeps everything in memory. This module keeps the DynamoDB tables and the S3 buckets (the data
the product owns: tenants, subscribers, invoices, sessions, cards, documents) on disk under
``<dir>``:

* ``state.pickle`` — the DynamoDB and S3 backends as of generation ``G`` (written to a temporary
  file, fsynced, renamed, directory fsynced: it is either the old or the new snapshot, never half);
* ``journal-G.log`` — every DynamoDB or S3 request that changed something after that snapshot, one
  JSON line each (method, path, headers, body), appended and fsynced **before** the client gets its
  answer. A write the client saw acknowledged is on disk; a crash (``kill -9``) loses only requests
  still in flight, which the client never saw succeed.

Writes are applied and journaled under one lock, so the journal order is the order moto applied
them; the fsync is shared by the writes that queue behind it (group commit). Requests that failed
(4xx/5xx: a condition that did not hold, a missing table) are not journaled: they changed nothing.
DynamoDB reads are served under the same lock (moto changes an item in place: a read beside a write
could see half of it), not waiting for the fsync; other reads (S3, SQS long polls) do not take it.

At start the snapshot is loaded (and moto's bucket-owner table rebuilt from it, so the stack's
``CreateBucket`` at start finds the documents bucket instead of replacing it) and the journal
replayed in-process (no HTTP); a multipart upload's parts and completion follow the new upload id
moto draws on replay. When the journal
grows past ``compact_after`` entries, and at a clean stop, the state is snapshotted into the next
generation and the journal starts empty, which bounds the restart time.

SQS, SES, SNS are not kept: queues are recreated at start and the provisioning tasks still
``queued`` in DynamoDB are sent again (see :mod:`infra.local.bootstrap`).
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

SNAPSHOT = "state.pickle"
COMPACT_AFTER = 2_000

# DynamoDB operations that never change state (everything else is journaled).
_DYNAMODB_READS = frozenset(
    {
        "BatchGetItem",
        "DescribeContinuousBackups",
        "DescribeEndpoints",
        "DescribeLimits",
        "DescribeTable",
        "DescribeTimeToLive",
        "GetItem",
        "ListBackups",
        "ListTables",
        "ListTagsOfResource",
        "Query",
        "Scan",
        "TransactGetItems",
    }
)
_SKIPPED_HEADERS = frozenset({"HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING", "HTTP_CONNECTION"})

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _signing_service(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0]
    else:  # presigned URL
        cred = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        if not cred:
            return None
        scope = cred[0]
    parts = scope.split("/")
    return parts[3].lower() if len(parts) >= 5 else None


def is_durable_write(environ: dict[str, Any]) -> bool:
    """A request whose effect must survive a restart: a DynamoDB write or an S3 change."""
    if is_dynamodb(environ):
        return str(environ["HTTP_X_AMZ_TARGET"]).split(".", 1)[-1] not in _DYNAMODB_READS
    if environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
        return _signing_service(environ) == "s3"
    return False


def is_dynamodb(environ: dict[str, Any]) -> bool:
    """A DynamoDB request (reads included)."""
    return str(environ.get("HTTP_X_AMZ_TARGET") or "").startswith("DynamoDB_")


def _backend_dicts() -> dict[str, Any]:
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends

    return {"dynamodb": dynamodb_backends, "s3": s3_backends}


def _index_buckets(backends: dict[tuple[str, str], Any]) -> None:
    """moto finds a bucket's owner in a table of its own (``s3_backends.bucket_accounts``) that a
    bucket fills when it is created, not when it is unpickled: without it a restored bucket is not
    found by name from another account and, worse, ``CreateBucket`` at start makes a new empty bucket
    in its place (every document lost)."""
    from moto.s3.models import s3_backends

    for (account, partition), backend in backends.items():
        for name in backend.buckets:
            s3_backends.bucket_accounts[name] = (partition, account)


@dataclass
class LoadReport:
    generation: int
    snapshot_bytes: int
    replayed: int
    failed: int
    torn: int
    seconds: float

    def line(self) -> str:
        return (
            f"generation {self.generation}: snapshot {self.snapshot_bytes} bytes, "
            f"{self.replayed} journaled writes replayed ({self.failed} failed, {self.torn} torn) "
            f"in {self.seconds:.2f} s"
        )


class Journal:
    """The snapshot + journal pair in one directory (one moto server process owns it)."""

    def __init__(self, directory: Path, compact_after: int = COMPACT_AFTER) -> None:
        self.dir = directory
        self.compact_after = compact_after
        self.generation = 0
        self.write_lock = threading.Lock()  # apply + append, in order
        self._sync_lock = threading.Lock()
        self._fd = -1
        self._written = 0  # entries appended (this process)
        self._synced = 0  # entries known to be on disk
        self._entries = 0  # entries in the current journal file
        self.stats = {"journaled": 0, "fsyncs": 0, "compactions": 0}

    # ------------------------------------------------------------ start
    def load(self, app: WsgiApp) -> LoadReport:
        """Restore the snapshot, replay the journal through ``app``, open the journal for appending."""
        started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        snapshot = self.dir / SNAPSHOT
        size = 0
        if snapshot.exists():
            blob = snapshot.read_bytes()
            size = len(blob)
            state = pickle.loads(blob)  # noqa: S301 - our own file, written by this module
            self.generation = int(state["generation"])
            dicts = _backend_dicts()
            for service, backends in state["backends"].items():
                for (account, region), backend in backends.items():
                    dicts[service][account][region] = backend
            _index_buckets(state["backends"].get("s3", {}))
        replayed = failed = torn = 0
        uploads: dict[str, str] = {}  # multipart upload id as journaled -> as replayed
        path = self._path(self.generation)
        if path.exists():
            with path.open("rb") as fh:
                for raw in fh:
                    try:
                        entry = json.loads(raw)
                    except ValueError:  # the last line of a write cut short by a crash
                        torn += 1
                        continue
                    if _replay(app, entry, uploads):
                        replayed += 1
                    else:
                        failed += 1
        for old in self.dir.glob("journal-*.log"):
            if old != path:
                old.unlink()
        self._entries = replayed + failed
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _fsync_dir(self.dir)
        if self._entries:  # fold the replayed journal in: the next start does not replay it again
            with self.write_lock:
                self.compact()
        return LoadReport(self.generation, size, replayed, failed, torn, time.monotonic() - started)

    # ------------------------------------------------------------ writing
    def append(self, entry: dict[str, Any]) -> int:
        """Append one entry (caller holds ``write_lock``); returns its sequence number for :meth:`sync`."""
        line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        view = memoryview(line)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._written += 1
        self._entries += 1
        self.stats["journaled"] += 1
        return self._written

    def sync(self, seq: int) -> None:
        """Return once entry ``seq`` is on disk; one fsync covers every entry written before it."""
        if self._synced >= seq:
            return
        with self._sync_lock:
            if self._synced >= seq:
                return
            target = self._written
            os.fsync(self._fd)
            self.stats["fsyncs"] += 1
            self._synced = target

    def needs_compaction(self) -> bool:
        return self._entries >= self.compact_after

    def compact(self) -> None:
        """Snapshot the state into the next generation and start an empty journal (caller holds
        ``write_lock``, so no write is applied meanwhile)."""
        with self._sync_lock:
            os.fsync(self._fd)
            self._synced = self._written
            state = {
                "generation": self.generation + 1,
                "backends": {
                    service: {(account, region): backend for account, region, backend in d.iter_backends()}
                    for service, d in _backend_dicts().items()
                },
            }
            tmp = self.dir / (SNAPSHOT + ".tmp")
            with tmp.open("wb") as fh:
                pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.dir / SNAPSHOT)
            _fsync_dir(self.dir)
            old_fd, old_path = self._fd, self._path(self.generation)
            self.generation += 1
            self._fd = os.open(self._path(self.generation), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            _fsync_dir(self.dir)
            os.close(old_fd)
            old_path.unlink(missing_ok=True)
            self._entries = 0
            self.stats["compactions"] += 1

    def close(self, compact: bool = True) -> None:
        with self.write_lock:
            if self._fd < 0:
                return
            if compact and self._entries:
                self.compact()
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _path(self, generation: int) -> Path:
        return self.dir / f"journal-{generation}.log"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _entry(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    headers = {
        key[5:].replace("_", "-").title(): value
        for key, value in environ.items()
        if key.startswith("HTTP_") and key not in _SKIPPED_HEADERS
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    return {
        "m": environ["REQUEST_METHOD"],
        "p": environ.get("RAW_URI") or environ.get("PATH_INFO", "/"),
        "q": environ.get("QUERY_STRING", ""),
        "h": headers,
        "b": base64.b64encode(body).decode("ascii"),
    }


_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")


def _upload_id(environ: dict[str, Any], status: str, body: bytes) -> str | None:
    """The id of the multipart upload an S3 CreateMultipartUpload (``POST ?uploads``) opened."""
    if environ.get("REQUEST_METHOD") != "POST" or "uploads" not in parse_qs(
        environ.get("QUERY_STRING", ""), keep_blank_values=True
    ):
        return None
    match = _UPLOAD_ID.search(body) if status[:1] == "2" else None
    return match.group(1).decode() if match else None


def _with_upload_id(query: str, uploads: dict[str, str]) -> str:
    """``query`` naming the replayed upload instead of the journaled one (moto draws a new id)."""
    if "uploadId=" not in query:
        return query
    parts = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        parts.append(f"{name}={uploads.get(value, value)}" if name == "uploadId" else part)
    return "&".join(parts)


def _replay(app: WsgiApp, entry: dict[str, Any], uploads: dict[str, str] | None = None) -> bool:
    """Apply one journaled request; a multipart upload's parts and completion follow its new id."""
    from werkzeug.test import EnvironBuilder

    uploads = {} if uploads is None else uploads
    path = entry["p"].split("?", 1)[0]
    headers = dict(entry["h"])
    host = headers.pop("Host", "localhost")
    builder = EnvironBuilder(
        path=path,
        base_url=f"http://{host}",
        query_string=_with_upload_id(entry["q"], uploads) or None,
        method=entry["m"],
        headers=headers,
        data=base64.b64decode(entry["b"]),
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    status: list[str] = []

    def start_response(st: str, _headers: Any, _exc: Any = None) -> Callable[[bytes], None]:
        status.append(st)
        return lambda _data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    ok = bool(status) and status[0][:1] == "2"
    if ok and entry.get("u"):
        new_id = _upload_id(environ, status[0], body)
        if new_id:
            uploads[entry["u"]] = new_id
    return ok


STATS_PATH = "/_local/stats"


def _operation(environ: dict[str, Any]) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET") or ""
    if target:
        return target.split(".", 1)[-1]
    service = _signing_service(environ) or "other"
    return f"{service}:{environ.get('REQUEST_METHOD', '?')}"


class PersistentApp:
    """WSGI middleware around moto's app: durable writes are serialised, journaled and fsynced.

    ``GET /_local/stats`` answers the requests served per operation, the CPU time their handling took
    in this process per operation (moto's app and the journal; the HTTP server's part is only in the
    process total), the process's CPU time and the journal's counters: the benchmark's
    calls-per-RADIUS-request and CPU figures come from there."""

    def __init__(self, app: WsgiApp, journal: Journal) -> None:
        self.app = app
        self.journal = journal
        self.requests: Counter[str] = Counter()
        self.cpu: dict[str, float] = {}  # seconds of thread CPU per operation

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == STATS_PATH and environ.get("REQUEST_METHOD") == "GET":
            body = json.dumps(
                {
                    "requests": dict(self.requests),
                    "cpu_seconds": {op: round(t, 6) for op, t in self.cpu.items()},
                    "process_cpu_seconds": round(time.process_time(), 6),
                    "journal": self.journal.stats,
                }
            ).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        operation = _operation(environ)
        self.requests[operation] += 1
        started = time.thread_time()
        try:
            return self._serve(environ, start_response)
        finally:
            self.cpu[operation] = self.cpu.get(operation, 0.0) + time.thread_time() - started

    def _serve(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not is_durable_write(environ):
            if not is_dynamodb(environ):
                return self.app(environ, start_response)
            # a DynamoDB read sees an item as a whole write left it: moto changes items in place, so
            # a read served beside a write could answer with half of it (DynamoDB never does)
            with self.journal.write_lock:
                result = self.app(environ, start_response)
                try:
                    return [b"".join(result)]
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
        body = _read_body(environ)
        captured: list[Any] = []

        def capture(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
            captured[:] = [status, headers, exc_info]
            return lambda _data: None

        seq = 0
        with self.journal.write_lock:
            result = self.app(environ, capture)
            try:
                chunks = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if captured and str(captured[0])[:1] == "2":
                entry = _entry(environ, body)
                upload = _upload_id(environ, str(captured[0]), chunks)
                if upload:
                    entry["u"] = upload  # the parts name it; a replay maps it to the id moto draws then
                seq = self.journal.append(entry)
                if self.journal.needs_compaction():
                    self.journal.compact()
        if seq:
            self.journal.sync(seq)
        start_response(captured[0], captured[1])
        return [chunks]


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body
