"""The NAS clients (gateways) the service answers, with their secrets, refreshed without a restart.

Loaded from the gateways in the datastore; the secrets are decrypted once per load. Packets from
addresses not in the registry are dropped (and counted by the server).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from pyrad.server import RemoteHost

from core.radius.model import GatewayView
from shared.observability import get_logger

log = get_logger("radius")


@dataclass(frozen=True)
class NasClient:
    gateway: GatewayView
    secret: bytes


class NasRegistry:
    def __init__(
        self,
        load: Callable[[], list[GatewayView]],
        decrypt: Callable[[str], str],
        *,
        min_reload_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._decrypt = decrypt
        self._clock = clock
        self._min_interval = min_reload_interval
        self._clients: dict[str, NasClient] = {}
        self._reboots: dict[str, str] = {}
        self.loaded = False
        self._last_load = float("-inf")
        self._lock = threading.Lock()
        # one reload at a time: one that read the gateways earlier never replaces a later one's list
        self._reload_lock = threading.Lock()
        # pyrad's view of the clients, kept in sync (same dict object for the server's lifetime)
        self.hosts: dict[str, RemoteHost] = {}

    def reload(self) -> int:
        """Load every gateway again (blocking: run it off the event loop). Returns the client count.

        Reloads run one at a time (the periodic one, one asked for by a packet from an unknown
        address, one after a gateway was saved): otherwise a reload that read the gateways before a
        new one was stored could finish last and leave the new gateway unknown until the next."""
        with self._reload_lock:
            return self._reload()

    def _reload(self) -> int:
        with self._lock:
            self._last_load = self._clock()
        gateways = self._load()
        clients: dict[str, NasClient] = {}
        for gw in gateways:
            if gw.nas_ip in clients:
                log.warning(
                    "two gateways use one NAS address; keeping the first",
                    extra={"nas_ip": gw.nas_ip, "gateway_id": gw.id},
                )
                continue
            try:
                secret = self._decrypt(gw.secret_enc).encode("utf-8")
            except Exception:
                log.exception("cannot decrypt the RADIUS secret of a gateway", extra={"gateway_id": gw.id})
                continue
            previous = self._clients.get(gw.nas_ip)
            if (
                previous
                and previous.gateway.last_reboot_at
                and (not gw.last_reboot_at or gw.last_reboot_at < previous.gateway.last_reboot_at)
            ):
                gw = replace(gw, last_reboot_at=previous.gateway.last_reboot_at)  # noted before it was stored
            clients[gw.nas_ip] = NasClient(gw, secret)
        self._clients = clients
        self.loaded = True
        self._update_reboots()
        for ip in [ip for ip in self.hosts if ip not in clients]:
            del self.hosts[ip]
        for ip, client in clients.items():
            self.hosts[ip] = RemoteHost(ip, client.secret, client.gateway.name)
        return len(clients)

    @property
    def count(self) -> int:
        return len(self._clients)

    def get(self, ip: str) -> NasClient | None:
        return self._clients.get(ip)

    def due_for_reload(self) -> bool:
        """Whether a packet from an unknown address may trigger a reload now (rate-limited)."""
        with self._lock:
            if self._clock() - self._last_load < self._min_interval:
                return False
            self._last_load = self._clock()
            return True

    def _update_reboots(self) -> None:
        self._reboots = {
            ip: c.gateway.last_reboot_at for ip, c in self._clients.items() if c.gateway.last_reboot_at
        }

    def reboots(self) -> Mapping[str, str]:
        """NAS address -> its last Accounting-On (sessions started before it no longer count)."""
        return self._reboots

    def note_reboot(self, ip: str, at: str) -> None:
        client = self._clients.get(ip)
        if client is not None:
            self._clients[ip] = replace(client, gateway=replace(client.gateway, last_reboot_at=at))
            self._update_reboots()

    def for_nas(self, nas_ip: str) -> tuple[GatewayView, bytes] | None:
        client = self._clients.get(nas_ip)
        return (client.gateway, client.secret) if client else None
