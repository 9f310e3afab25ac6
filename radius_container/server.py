"""The asyncio RADIUS server (pyrad ``ServerAsync``): authentication and accounting over UDP.

The event loop only decodes, checks and encodes packets; the operations that touch the datastore
run in a thread pool. Security checks happen before any operation (BlastRADIUS, CVE-2024-3596):

* packets from addresses that are not a known gateway are dropped and counted;
* a Message-Authenticator present in an Access-Request must verify; gateways flagged so must send
  one; from the others, an Access-Request with Proxy-State or EAP-Message (RFC 3579) but no
  Message-Authenticator is dropped;
* a packet whose attributes do not tile its Length (one running past the end) is dropped;
* every Access-Accept/Reject carries a Message-Authenticator as its first attribute;
* Accounting-Requests must carry a valid Request Authenticator.

A retransmitted request (same source, identifier and authenticator) gets the same answer without
being processed again; one still being processed is ignored. An Accounting-Response is sent only
once the accounting write is durable; if processing fails no answer is sent, so the NAS retries.
"""

from __future__ import annotations

import asyncio
import ipaddress
import queue
import socket
import struct
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pyrad.dictionary import Dictionary
from pyrad.packet import (
    AccessAccept,
    AccessReject,
    AccessRequest,
    AccountingRequest,
    AccountingResponse,
    AcctPacket,
    AuthPacket,
    Packet,
)
from pyrad.server_async import DatagramProtocolServer, ServerAsync, ServerType

from core.ids import iso, utcnow
from core.radius.accounting import (
    AccountingEvent,
    AcctStatus,
    ClosedBy,
    called_station,
    combine,
    normalize_mac,
)
from radius_container.authorize import AccessResult, Authorizer
from radius_container.codec import MAX_PACKET, AcctRequest, AuthRequest, ReplyEncoder
from radius_container.nas import NasClient, NasRegistry
from radius_container.reuseport import steer_by_identifier
from services.radius_sessions import AccountingResult, Catalog, close_nas_sessions, record_accounting
from shared.observability import get_logger
from store.radius_repo import RadiusStore

log = get_logger("radius")

RECEIVE_BUFFER = 4 << 20  # bytes; the kernel caps it at net.core.rmem_max
DUPLICATE_WINDOW_S = 10.0
MAX_DELAY_S = 24 * 3600  # Acct-Delay-Time beyond a day is not believed
_MESSAGE_AUTHENTICATOR = 80
_PROXY_STATE = 33
_EAP_MESSAGE = 79


@dataclass
class Stats:
    """Counters of what the server did, for logs, metrics and tests."""

    counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:  # updated from the worker threads too
            self.counts[name] += n

    def __getitem__(self, name: str) -> int:
        return self.counts[name]


class RequestWorkers:
    """Threads that run the blocking request operations and hand their replies back to the loop.

    Lighter than an executor per request: jobs and results go through simple queues, and the event
    loop is woken once per batch of finished requests, not once per request.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        count: int,
        deliver: Callable[[Any, bytes | None], None],
    ) -> None:
        self._loop = loop
        self._deliver = deliver
        self._jobs: queue.SimpleQueue[tuple[Callable[[], bytes | None], Any] | None] = queue.SimpleQueue()
        self._done: deque[tuple[Any, bytes | None]] = deque()
        self._lock = threading.Lock()
        self._wake_scheduled = False
        self._threads = [
            threading.Thread(target=self._run, name=f"radius-request-{i}", daemon=True) for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Callable[[], bytes | None], context: Any) -> None:
        self._jobs.put((work, context))

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            work, context = job
            try:
                raw = work()
            except Exception:  # the operations catch their own errors; never lose a worker
                log.exception("request worker failed")
                raw = None
            self._done.append((context, raw))
            with self._lock:
                if self._wake_scheduled:
                    continue
                self._wake_scheduled = True
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop is closed: shutting down
                return

    def _drain(self) -> None:
        with self._lock:
            self._wake_scheduled = False
        while self._done:
            context, raw = self._done.popleft()
            self._deliver(context, raw)

    def stop(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)


class _Replies:
    """Answers of recent requests by (source, identifier, authenticator), for retransmissions."""

    def __init__(self, window: float = DUPLICATE_WINDOW_S) -> None:
        self._window = window
        self._items: OrderedDict[tuple[Any, ...], tuple[float, bytes | None]] = OrderedDict()

    def begin(self, key: tuple[Any, ...]) -> tuple[bool, bytes | None]:
        """(is_new, cached_reply). A key seen before is not new; its reply is None while in flight."""
        now = time.monotonic()
        while self._items:
            at = next(iter(self._items.values()))[0]
            if now - at < self._window:
                break
            self._items.popitem(last=False)
        if key in self._items:
            return False, self._items[key][1]
        self._items[key] = (now, None)
        return True, None

    def done(self, key: tuple[Any, ...], reply: bytes | None) -> None:
        if reply is None:
            self._items.pop(key, None)  # failed: let a retransmission try again
        elif key in self._items:
            self._items[key] = (self._items[key][0], reply)


def _proxy_states(pkt: Packet) -> list[bytes]:
    return [bytes(v) for v in dict.get(pkt, _PROXY_STATE, ())]


def _raw(pkt: Packet, code: int) -> bytes | None:
    values = dict.get(pkt, code)
    return bytes(values[0]) if values else None


def _raw_int(pkt: Packet, code: int) -> int | None:
    raw = _raw(pkt, code)
    return int.from_bytes(raw, "big") if raw is not None and len(raw) == 4 else None


def _raw_str(pkt: Packet, code: int) -> str | None:
    raw = _raw(pkt, code)
    return raw.decode("utf-8", "replace") if raw else None


def _raw_ip(pkt: Packet, code: int) -> str | None:
    raw = _raw(pkt, code)
    return str(ipaddress.IPv4Address(raw)) if raw is not None and len(raw) == 4 else None


class MalformedAccountingError(ValueError):
    """An Accounting-Request without the attributes its status needs: dropped, not answered."""


def accounting_event(
    pkt: AcctPacket, nas: NasClient, received: datetime, dictionary: Dictionary
) -> AccountingEvent | None:
    """Decode an Accounting-Request; None for a status that records nothing (answered all the same)."""
    status = _raw_int(pkt, 40)
    if status is None:
        raise MalformedAccountingError("no Acct-Status-Type")
    delay = min(_raw_int(pkt, 41) or 0, MAX_DELAY_S)
    at = received - timedelta(seconds=delay)
    if status in (AcctStatus.ACCOUNTING_ON, AcctStatus.ACCOUNTING_OFF):
        return AccountingEvent(AcctStatus(status), nas.gateway.nas_ip, "", "", at)
    if status not in (AcctStatus.START, AcctStatus.STOP, AcctStatus.INTERIM):
        return None
    username, session_id = _raw_str(pkt, 1), _raw_str(pkt, 44)
    if not username or not session_id:
        raise MalformedAccountingError("no User-Name or Acct-Session-Id")
    cause = _raw(pkt, 49)
    cause_name = None
    if cause is not None:
        names = dictionary.attributes["Acct-Terminate-Cause"].values  # name -> encoded value
        cause_name = (
            names.GetBackward(cause) if names.HasBackward(cause) else str(int.from_bytes(cause, "big"))
        )
    gateway_mac, ssid = called_station(_raw_str(pkt, 30))
    return AccountingEvent(
        status=AcctStatus(status),
        nas_ip=nas.gateway.nas_ip,
        username=username.strip(),
        acct_session_id=session_id,
        received_at=at,
        session_time=_raw_int(pkt, 46) or 0,
        input_octets=combine(_raw_int(pkt, 42), _raw_int(pkt, 52)),
        output_octets=combine(_raw_int(pkt, 43), _raw_int(pkt, 53)),
        framed_ip=_raw_ip(pkt, 8),
        mac=normalize_mac(_raw_str(pkt, 31)),
        gateway_mac=gateway_mac,
        ssid=ssid,
        nas_identifier=_raw_str(pkt, 32),
        terminate_cause=cause_name,
        input_gigawords=dict.__contains__(pkt, 52),
        output_gigawords=dict.__contains__(pkt, 53),
    )


class NasProtocol(DatagramProtocolServer):
    """pyrad's datagram protocol, decoding each packet once and counting what it drops."""

    server: RadiusServer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.server.received(self, data, addr)


class RadiusServer(ServerAsync):  # type: ignore[misc]
    auth_port: int
    acct_port: int

    def __init__(
        self,
        *,
        store: RadiusStore,
        catalog: Catalog,
        registry: NasRegistry,
        authorizer: Authorizer,
        executor: Executor,
        dictionary: Dictionary,
        auth_port: int,
        acct_port: int,
        clock: Callable[[], datetime] = utcnow,
        on_enforce: Callable[[NasClient, AccountingResult], None] | None = None,
        request_workers: int = 32,
    ) -> None:
        super().__init__(
            auth_port=auth_port,
            acct_port=acct_port,
            hosts=registry.hosts,
            dictionary=dictionary,
            enforce_ma=False,
        )
        self.store = store
        self.catalog = catalog
        self.registry = registry
        self.authorizer = authorizer
        self.executor = executor
        self.clock = clock
        self.stats = Stats()
        self.on_enforce = on_enforce
        self.encoder = ReplyEncoder(dictionary)
        self._replies = _Replies()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0
        self.request_workers = request_workers
        self.workers: RequestWorkers | None = None

    # ------------------------------------------------------------ transport
    async def initialize_transports(  # type: ignore[override]
        self,
        enable_acct: bool = False,
        enable_auth: bool = False,
        enable_coa: bool = False,
        addresses: Sequence[str] | None = None,
        processes: int | None = None,
    ) -> None:
        """Open the sockets (port 0 picks a free port; the chosen one is stored back).

        ``processes``: this process is one of that many sharing the ports (``SO_REUSEPORT``), packets
        being steered to a worker by their identifier (see :mod:`radius_container.reuseport`).
        """
        loop = asyncio.get_running_loop()
        if self.workers is None:
            self.workers = RequestWorkers(loop, self.request_workers, self._finish)
        for addr in addresses or ["127.0.0.1"]:
            for enabled, server_type, protocols in (
                (enable_auth, ServerType.Auth, self.auth_protocols),
                (enable_acct, ServerType.Acct, self.acct_protocols),
            ):
                if not enabled:
                    continue
                port: int = self.auth_port if server_type == ServerType.Auth else self.acct_port
                protocol = NasProtocol(
                    addr, port, self.logger, self, server_type, self.hosts, self.__request_handler__
                )
                transport, _ = await loop.create_datagram_endpoint(
                    protocol, local_addr=(addr, port), reuse_port=processes is not None or None
                )
                # a large buffer absorbs bursts (every NAS of a region re-authenticating after an outage)
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
                    if processes is not None:
                        steer_by_identifier(sock, processes)
                bound = transport.get_extra_info("sockname")[1]
                protocol.port = bound
                if server_type == ServerType.Auth:
                    self.auth_port = bound
                else:
                    self.acct_port = bound
                protocols.append(protocol)

    def received(self, protocol: NasProtocol, data: bytes, addr: tuple[str, int]) -> None:
        nas = self.registry.get(addr[0])
        if nas is None:
            self.stats.add("dropped_unknown_nas")
            if self.registry.due_for_reload():
                self._spawn(self._reload_registry())  # a gateway may have just been added
            return
        if len(data) < 20 or len(data) > MAX_PACKET:
            self.stats.add("dropped_malformed")
            return
        try:
            if protocol.server_type == ServerType.Auth:
                if data[0] != AccessRequest:
                    raise ValueError("not an Access-Request")
                self._auth_packet(
                    protocol, nas, AuthRequest(secret=nas.secret, dict=self.dict, packet=data), addr
                )
            else:
                if data[0] != AccountingRequest:
                    raise ValueError("not an Accounting-Request")
                acct = AcctRequest(secret=nas.secret, dict=self.dict, packet=data)
                if not acct.VerifyAcctRequest():
                    self.stats.add("dropped_bad_authenticator")
                    return
                self._acct_packet(protocol, nas, acct, addr)
        except Exception:
            self.stats.add("dropped_malformed")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload_registry(self) -> None:
        try:
            count = await asyncio.get_running_loop().run_in_executor(self.executor, self.registry.reload)
            log.info("NAS clients loaded", extra={"count": count})
        except Exception:
            log.exception("loading the NAS clients failed")

    def _send(self, protocol: NasProtocol, raw: bytes, addr: tuple[str, int]) -> None:
        if protocol.transport is not None:
            protocol.transport.sendto(raw, addr)

    # ------------------------------------------------------------ authentication
    def _auth_packet(
        self, protocol: NasProtocol, nas: NasClient, pkt: AuthPacket, addr: tuple[str, int]
    ) -> None:
        if dict.__contains__(pkt, _MESSAGE_AUTHENTICATOR):
            if not pkt.verify_message_authenticator():
                self.stats.add("dropped_bad_message_authenticator")
                return
        elif nas.gateway.require_message_authenticator:
            self.stats.add("dropped_missing_message_authenticator")
            return
        elif dict.__contains__(pkt, _EAP_MESSAGE):
            # RFC 3579 §3.2: an EAP-Message without Message-Authenticator is silently discarded
            self.stats.add("dropped_eap_without_message_authenticator")
            return
        elif dict.__contains__(pkt, _PROXY_STATE):
            self.stats.add("dropped_proxy_state_without_message_authenticator")
            return
        key = ("auth", addr, pkt.id, pkt.authenticator)
        new, cached = self._replies.begin(key)
        if not new:
            self.stats.add("duplicates")
            if cached is not None:
                self._send(protocol, cached, addr)
            return
        self.stats.add("access_requests")
        self._submit(lambda: self._authorize(nas, pkt), protocol, addr, key)

    def _submit(
        self,
        work: Callable[[], bytes | None],
        protocol: NasProtocol,
        addr: tuple[str, int],
        key: tuple[Any, ...],
    ) -> None:
        """Run ``work`` (blocking) on a request worker; its reply is sent from the event loop."""
        if self.workers is None:
            self._replies.done(key, None)
            return
        self._pending += 1
        self.workers.submit(work, (protocol, addr, key))

    def _finish(
        self, context: tuple[NasProtocol, tuple[str, int], tuple[Any, ...]], raw: bytes | None
    ) -> None:
        protocol, addr, key = context
        self._pending -= 1
        self._replies.done(key, raw)
        if raw is not None:
            self._send(protocol, raw, addr)

    def _authorize(self, nas: NasClient, pkt: AuthPacket) -> bytes | None:
        try:
            result = self.authorizer.authorize(nas, pkt)
            raw = self.access_reply(pkt, result)
        except Exception:
            # no answer: the NAS retries or fails over; a wrong Reject would lock out a paying customer
            self.stats.add("errors")
            log.exception("Access-Request failed", extra={"nas_ip": nas.gateway.nas_ip})
            return None
        self.stats.add("access_accepts" if result.accept else "access_rejects")
        if result.reason is not None:
            self.stats.add(f"reject_{result.reason.value}")
        return raw

    def access_reply(self, pkt: AuthPacket, result: AccessResult) -> bytes:
        """The encoded Access-Accept/Reject: Message-Authenticator first, Proxy-State echoed."""
        encoded = []
        for name, value in result.reply:
            try:
                encoded.append(self.encoder.reply_attribute(name, value, pkt.secret, pkt.authenticator))
            except (KeyError, ValueError, TypeError, struct.error):
                # a custom reply attribute unknown to the dictionary or with a value of the wrong type
                self.stats.add("reply_attribute_skipped")
                log.warning("reply attribute skipped", extra={"attribute": name})
        code = AccessAccept if result.accept else AccessReject
        return self.encoder.packet(code, pkt.id, pkt.authenticator, pkt.secret, encoded, _proxy_states(pkt))

    # ------------------------------------------------------------ accounting
    def _acct_packet(
        self, protocol: NasProtocol, nas: NasClient, pkt: AcctPacket, addr: tuple[str, int]
    ) -> None:
        key = ("acct", addr, pkt.id, pkt.authenticator)
        new, cached = self._replies.begin(key)
        if not new:
            self.stats.add("duplicates")
            if cached is not None:
                self._send(protocol, cached, addr)
            return
        self.stats.add("accounting_requests")
        self._submit(lambda: self._account(nas, pkt), protocol, addr, key)

    def _record(self, nas: NasClient, pkt: AcctPacket) -> AccountingResult | None:
        event = accounting_event(pkt, nas, self.clock(), self.dict)
        if event is None:
            self.stats.add("accounting_ignored")
            return None
        if event.status in (AcctStatus.ACCOUNTING_ON, AcctStatus.ACCOUNTING_OFF):
            on = event.status == AcctStatus.ACCOUNTING_ON
            closed_by = ClosedBy.ACCOUNTING_ON if on else ClosedBy.ACCOUNTING_OFF
            # from now on logins ignore the sessions the NAS had before, even before each is closed
            self.registry.note_reboot(nas.gateway.nas_ip, iso(event.received_at))
            closed = close_nas_sessions(self.store, nas.gateway, closed_by, event.received_at)
            self.stats.add("sessions_closed_by_nas_restart", closed)
            return None
        return record_accounting(self.store, self.catalog, nas.gateway, event, self.registry.reboots())

    def _account(self, nas: NasClient, pkt: AcctPacket) -> bytes | None:
        try:
            result = self._record(nas, pkt)
        except MalformedAccountingError:
            self.stats.add("dropped_malformed")
            return None
        except Exception:
            # no answer: the NAS retransmits, and a repeated packet changes nothing
            self.stats.add("errors")
            log.exception("Accounting-Request failed", extra={"nas_ip": nas.gateway.nas_ip})
            return None
        self.stats.add("accounting_responses")
        if result is not None and result.unknown_subscriber:
            self.stats.add("accounting_unknown_subscriber")
        if result is not None and result.invalid_modulation:
            self.stats.add("modulation_setting_invalid")
        if result is not None and result.enforce is not None and self.on_enforce is not None:
            self.on_enforce(nas, result)
        # only now, the write being durable, is the Accounting-Response sent
        return self.encoder.packet(
            AccountingResponse,
            pkt.id,
            pkt.authenticator,
            pkt.secret,
            (),
            _proxy_states(pkt),
            message_authenticator=False,
        )

    # ------------------------------------------------------------ pyrad handler interface
    # Packets reach the operations through received(), which decodes each once and applies the
    # checks above; pyrad's per-type hooks are therefore never called.
    def handle_auth_packet(self, protocol: Any, pkt: Any, addr: Any) -> None:
        raise NotImplementedError

    def handle_acct_packet(self, protocol: Any, pkt: Any, addr: Any) -> None:
        raise NotImplementedError

    def handle_coa_packet(self, protocol: Any, pkt: Any, addr: Any) -> None:
        raise NotImplementedError

    def handle_disconnect_packet(self, protocol: Any, pkt: Any, addr: Any) -> None:
        raise NotImplementedError

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for the requests in progress (graceful stop), then stop the request workers."""
        deadline = time.monotonic() + timeout
        while (self._pending or self._tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.workers is not None:
            self.workers.stop()
            self.workers = None
