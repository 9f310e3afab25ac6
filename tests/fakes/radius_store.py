"""An in-memory :class:`store.radius_repo.RadiusStore` with the same conditional-write semantics as
DynamoDB, a per-call latency and call counters (the benchmark's datastore double)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace

from core.radius.accounting import SessionLog, SubscriberWrite
from core.radius.model import GatewayView, PolicyView, ProductView, SubscriberView

READS = frozenset({"get_subscriber", "get_policy", "get_product", "get_session_log", "list_gateways"})
QUERIES = frozenset({"open_session_ids", "open_session_nas"})


class InMemoryRadiusStore:
    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.calls: Counter[str] = Counter()
        self.gateways: dict[str, GatewayView] = {}
        self.policies: dict[str, PolicyView] = {}
        self.products: dict[str, ProductView] = {}
        self.subscribers: dict[str, SubscriberView] = {}
        self.sessions: dict[str, SessionLog] = {}
        self._lock = threading.Lock()

    def _call(self, name: str) -> None:
        with self._lock:
            self.calls[name] += 1
        if self.latency_s:
            time.sleep(self.latency_s)

    def reads(self) -> int:
        return sum(n for k, n in self.calls.items() if k in READS)

    def writes(self) -> int:
        return sum(n for k, n in self.calls.items() if k not in READS and k not in QUERIES)

    # ------------------------------------------------------------ RadiusStore
    def list_gateways(self) -> list[GatewayView]:
        self._call("list_gateways")
        return list(self.gateways.values())

    def get_policy(self, policy_id: str) -> PolicyView | None:
        self._call("get_policy")
        return self.policies.get(policy_id)

    def get_product(self, product_id: str) -> ProductView | None:
        self._call("get_product")
        return self.products.get(product_id)

    def get_subscriber(self, login: str) -> SubscriberView | None:
        self._call("get_subscriber")
        return self.subscribers.get(login)

    def apply_subscriber_write(self, write: SubscriberWrite, seen_at: str | None) -> bool:
        self._call("apply_subscriber_write")
        with self._lock:
            sub = self.subscribers.get(write.login)
            if sub is None:
                return False
            if write.activate and sub.status != "new":
                return False
            current = sub.open_sessions.get(write.key)
            if write.expect_version is None and current is not None:
                return False
            if write.expect_version is not None and (
                current is None or current.version != write.expect_version
            ):
                return False
            sessions = {k: v for k, v in sub.open_sessions.items() if k not in write.remove_sessions}
            sessions[write.key] = write.entry
            usage = {k: v for k, v in sub.usage.items() if k not in write.remove_usage}
            for key, delta in write.add_usage.items():
                usage[key] = usage.get(key, 0) + delta
            devices, since = sub.devices, sub.devices_since
            if write.devices_since is not None:
                devices, since = ((write.add_device,) if write.add_device else ()), write.devices_since
            elif write.add_device:
                devices = (*devices, write.add_device)
            self.subscribers[write.login] = replace(
                sub,
                open_sessions=sessions,
                usage=usage,
                devices=devices,
                devices_since=since,
                has_usage_map=True,
                has_sessions_map=True,
                status="active" if write.activate else sub.status,
            )
            return True

    def put_session_log(self, log: SessionLog) -> None:
        self._call("put_session_log")
        with self._lock:
            old = self.sessions.get(log.id)
            if old is None:
                self.sessions[log.id] = log
            elif old.version < log.version:
                # like the DynamoDB update: details the packet lacks keep their stored values
                kept = {
                    name: getattr(old, name)
                    for name in (
                        "terminate_cause",
                        "gateway_id",
                        "gateway_name",
                        "nas_identifier",
                        "gateway_mac",
                        "mac",
                        "ssid",
                        "framed_ip",
                    )
                    if getattr(log, name) is None
                }
                self.sessions[log.id] = replace(log, **kept)

    def get_session_log(self, session_id: str) -> SessionLog | None:
        self._call("get_session_log")
        return self.sessions.get(session_id)

    def open_session_ids(self, nas_ip: str, updated_before: str | None = None) -> list[str]:
        self._call("open_session_ids")
        return [
            s.id
            for s in list(self.sessions.values())
            if s.is_open and s.nas_ip == nas_ip and (updated_before is None or s.last_update < updated_before)
        ]

    def open_session_nas(self) -> list[str]:
        self._call("open_session_nas")
        return sorted({s.nas_ip for s in list(self.sessions.values()) if s.is_open})

    def mark_gateway_reboot(self, gateway_id: str, at: str) -> None:
        self._call("mark_gateway_reboot")
        with self._lock:
            for ip, gw in self.gateways.items():
                if gw.id == gateway_id:
                    self.gateways[ip] = replace(gw, last_reboot_at=at)

    def flush_counters(self) -> None:
        """No totals counters here: nothing is gathered."""
