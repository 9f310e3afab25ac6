"""Accounting: connection-log sessions and the hourly traffic of rate-modulated subscribers."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from store.models.base import _index, _meta


class SubscriberStartIndex(GlobalSecondaryIndex["Session"]):
    """A subscriber's connection log by start (keys only: a page of rows is read by key)."""

    Meta = _index("subscriber-index", KeysOnlyProjection())
    subscriber_id = UnicodeAttribute(hash_key=True)
    started_at = UnicodeAttribute(range_key=True)


class OpenSessionIndex(GlobalSecondaryIndex["Session"]):
    """Sparse: only open sessions carry ``open_nas`` (Accounting-On/Off and the stale-session reaper).

    The range key is the hour of the last update (``YYYY-MM-DDTHH``), not the update time itself: it
    changes once an hour, so an Interim-Update does not move the row in the index every time.
    """

    Meta = _index("open-hour-index", KeysOnlyProjection())
    open_nas = UnicodeAttribute(hash_key=True)
    open_hour = UnicodeAttribute(range_key=True)


class Session(Model):
    """Accounting / connection log row (SPEC S4 connection log fields)."""

    Meta = _meta("sessions")
    id = UnicodeAttribute(hash_key=True)  # sha256(nas_ip|acct_session_id|username)[:32]
    tenant_id = UnicodeAttribute()
    subscriber_id = UnicodeAttribute()
    username = UnicodeAttribute()
    acct_session_id = UnicodeAttribute()
    gateway_id = UnicodeAttribute(null=True)
    gateway_name = UnicodeAttribute(null=True)
    nas_ip = UnicodeAttribute()
    nas_identifier = UnicodeAttribute(null=True)
    gateway_mac = UnicodeAttribute(null=True)  # Called-Station-Id
    mac = UnicodeAttribute(null=True)  # Calling-Station-Id
    ssid = UnicodeAttribute(null=True)
    framed_ip = UnicodeAttribute(null=True)
    started_at = UnicodeAttribute()
    ended_at = UnicodeAttribute(null=True)
    last_update = UnicodeAttribute()
    duration_s = NumberAttribute(default=0)
    input_octets = NumberAttribute(default=0)  # 64-bit: octets + gigawords, client upload
    output_octets = NumberAttribute(default=0)  # client download
    terminate_cause = UnicodeAttribute(null=True)
    closed_by = UnicodeAttribute(null=True)  # stop | accounting-on | accounting-off | reaper | admin
    version = NumberAttribute(default=0)  # accounting updates of the session: older writes never win
    interim_s = NumberAttribute(default=300)
    open_nas = UnicodeAttribute(null=True)
    open_hour = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # closed rows: end + the tenant's connection-log retention
    subscriber_index = SubscriberStartIndex()
    open_index = OpenSessionIndex()


class UsageHour(Model):
    """Hourly traffic of a subscriber whose policy modulates its rate by traffic (SPEC S6).

    Kept out of the subscriber item so the item RADIUS rewrites on every accounting update stays
    small; rows expire after the longest modulation window.
    """

    Meta = _meta("usage_hours")
    login = UnicodeAttribute(hash_key=True)
    hour = UnicodeAttribute(range_key=True)  # UTC "YYYYMMDDHH"
    i = NumberAttribute(default=0)  # octets from the client
    o = NumberAttribute(default=0)  # octets to the client
    expires_at = TTLAttribute(null=True)
