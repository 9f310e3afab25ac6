"""Subscriber statuses (SPEC S3) and which transitions the lifecycle allows."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"  # created, never used a service
    ACTIVE = "active"
    SUSPENDED = "suspended"  # = Blocked: failed to pay or denied
    INACTIVE = "inactive"  # prolonged inactivity (grace period): accounting suspended, deletable
    CANCELLED = "cancelled"
    FREE = "free"  # never invoiced, never notified, never cut off automatically


class ConnectionType(StrEnum):
    PPPOE = "pppoe"
    HOTSPOT = "hotspot"
    SIMPLE_QUEUE = "simple_queue"
    PCQ = "pcq"


# Statuses in which RADIUS may grant service (Suspended is handled per gateway: reject or restricted)
SERVICE_STATUSES = frozenset({Status.NEW, Status.ACTIVE, Status.FREE})
# Filter-only pseudo statuses computed from accounting
ONLINE = "online"
ONLINE_24H = "online_24h"
