"""Pure rules behind the admin API: S6 policy validation, lifecycle rules, lists (table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import catalog_rules as rules
from core import lifecycle as lc
from core import listing
from core.errors import InvalidStateError, ValidationError

DICT = rules.parse_dictionary(
    """
ATTRIBUTE Session-Timeout 27 integer
ATTRIBUTE Framed-IP-Address 8 ipaddr
ATTRIBUTE Service-Type 6 integer
VALUE Service-Type Framed-User 2
BEGIN-VENDOR Mikrotik
ATTRIBUTE Mikrotik-Rate-Limit 8 string  # comment
END-VENDOR Mikrotik
""",
    {},
)
BASE = {"code": "P", "download_rate": 10_000_000, "upload_rate": 2_000_000}


@pytest.mark.parametrize(("given", "stored"), [(0, 300), (60, 300), (299, 300), (300, 300), (900, 900)])
def test_interim_update_below_300_becomes_300(given, stored):
    assert rules.check_policy({**BASE, "interim_update_s": given}, DICT)["interim_update_s"] == stored


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"min_split_time_min": 4}, "min_split_time_min"),
        ({"min_split_data_mb": 9}, "min_split_data_mb"),
        ({"max_devices": 1, "concurrent_connections": 2}, "concurrent_connections"),
        ({"first_day_of_week": 8}, "first_day_of_week"),
        ({"schedule": {"0": [1]}}, "schedule"),
        ({"schedule": {"1": [1, 1]}}, "schedule.1"),
        ({"burst": {"download_limit": 20_000_000}}, "burst.upload_limit"),
        ({"reply_attributes": [{"name": "Session-Timeout", "value": "-1"}]}, "reply_attributes.0.value"),
        ({"reply_attributes": [{"name": "Service-Type", "value": "Nope"}]}, "reply_attributes.0.value"),
        ({"check_attributes": [{"name": "Unknown-Attr", "value": "1"}]}, "check_attributes.0.name"),
        ({"address_list": "has space"}, "address_list"),
    ],
)
def test_policy_rules_name_the_field(patch, field):
    with pytest.raises(ValidationError) as exc:
        rules.check_policy({**BASE, **patch}, DICT)
    assert exc.value.field == field


def test_valid_policy_is_normalised():
    out = rules.check_policy(
        {
            **BASE,
            "max_devices": 0,
            "concurrent_connections": 5,
            "burst": {},
            "modulation": {"algorithm": "disabled"},
            "reply_attributes": [
                {"name": "service-type", "value": "Framed-User"},
                {"name": "Mikrotik-Rate-Limit", "value": "2M/10M"},
            ],
        },
        DICT,
    )
    assert out["burst"] is None and out["modulation"] is None  # empty burst = no burst; 0 devices = unlimited
    assert out["min_split_time_min"] == 5 and out["min_split_data_mb"] == 10
    assert out["reply_attributes"][0] == {"name": "Service-Type", "op": "=", "value": "Framed-User"}


@pytest.mark.parametrize(
    ("credit_t", "credit_d", "carried", "used_s", "used_b", "expected"),
    [
        (120, 1024, (0, 0), 1800, 300 * 1_048_576, (90, 724)),  # 2 h / 1 GB card, 30 min / 300 MB used
        (60, 0, (30, 500), 0, 10**9, (90, 500)),  # no data credit: the carried MB pass on untouched
        (60, 100, (0, 0), 7200, 200 * 1_048_576, (0, 0)),  # overused: nothing negative carries over
        (0, 0, (0, 0), 999, 999, (0, 0)),  # monthly plan without credits
    ],
)
def test_recharge_keeps_the_residual_credit(credit_t, credit_d, carried, used_s, used_b, expected):
    r = lc.residual_credit(credit_t, credit_d, lc.Residual(*carried), used_s, used_b)
    assert (r.time_min, r.data_mb) == expected


def test_transitions_and_migration_blockers():
    lc.require_transition("activate", "suspended")
    with pytest.raises(InvalidStateError):
        lc.require_transition("delete", "active")
    assert lc.migration_blocker("pppoe", "pppoe", same_gateway=False) is None
    assert "CSV" in (lc.migration_blocker("pppoe", "hotspot", same_gateway=False) or "")


@pytest.mark.parametrize(
    ("raw", "norm"), [("aabbccddeeff", "AA:BB:CC:DD:EE:FF"), ("aa-bb-cc-dd-ee-ff", "AA:BB:CC:DD:EE:FF")]
)
def test_mac_normalisation(raw, norm):
    assert lc.normalise_mac(raw) == norm


@pytest.mark.parametrize("bad", ["", "has space", "-lead", "x" * 65, "ñandú"])
def test_usernames(bad):
    with pytest.raises(ValidationError):
        lc.check_username(bad)


NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def _rows():
    return [
        {"id": "a", "username": "ana", "status": "active", "price": "25", "online_sessions": 1},
        {"id": "b", "username": "Bob", "status": "suspended", "price": "10", "online_sessions": 1},
        {
            "id": "c",
            "username": "cid",
            "status": "active",
            "price": "99.90",
            "last_seen_at": (NOW - timedelta(hours=2)).isoformat(),
        },
        {
            "id": "d",
            "username": "dan",
            "status": "free",
            "price": "5",
            "last_seen_at": "2020-01-01T00:00:00Z",
        },
    ]


def test_filters_online_24h_and_blocked_in_both_lists():
    f = listing.SubscriberFilter
    ids = lambda flt: [r["id"] for r in _rows() if listing.matches(r, flt, NOW)]  # noqa: E731
    assert ids(f(status="online")) == ["a", "b"]
    assert ids(f(status="online_24h")) == ["a", "b", "c"]
    assert ids(f(status="blocked")) == ["b"]
    assert ids(f(q="BOB")) == ["b"]


def test_keyset_pages_cover_every_row_once_and_reject_foreign_cursors():
    rows = listing.sort_rows(_rows(), "price", True)
    page, cur = listing.paginate(rows, "price", True, 3, None)
    assert [r["id"] for r in page] == ["c", "a", "b"]
    page2, cur2 = listing.paginate(rows, "price", True, 3, cur)
    assert [r["id"] for r in page2] == ["d"] and cur2 is None
    with pytest.raises(ValidationError):
        listing.paginate(rows, "username", False, 3, cur)


def test_totals_and_csv():
    t = listing.totals(_rows(), NOW)
    assert t["active"] == {"count": 2, "services_total": "124.90"}
    assert t["online"]["count"] == 2 and t["all"]["count"] == 4
    text = listing.to_csv(["username", "price"], [{"username": "=cmd", "price": "-5"}])
    assert text.splitlines()[1] == "'=cmd,-5"


def test_cancellation_statistics_per_month_across_a_year_end():
    from datetime import UTC, datetime

    from core.listing import cancellations

    now = datetime(2027, 1, 15, tzinfo=UTC)
    rows = [
        {"status": "cancelled", "cancelled_at": "2027-01-02T10:00:00Z", "price": "25", "zone_id": "z1"},
        {"status": "cancelled", "cancelled_at": "2026-12-31T23:00:00Z", "price": "10", "zone_id": "z2"},
        {
            "status": "cancelled",
            "cancelled_at": "2026-10-01T00:00:00Z",
            "price": "99",
            "zone_id": "z1",
        },  # too old
        {"status": "active", "cancelled_at": "2027-01-03T00:00:00Z", "price": "7"},  # reactivated since
    ]
    out = cancellations(rows, now, months=3)
    assert out["months"] == [
        {"month": "2026-11", "cancelled": 0, "services_total": "0.00"},
        {"month": "2026-12", "cancelled": 1, "services_total": "10.00"},
        {"month": "2027-01", "cancelled": 1, "services_total": "25.00"},
    ]
    assert out["by_zone"] == {"z1": 1, "z2": 1} and out["total"] == 2


def test_cancellations_count_in_the_month_of_the_rows_time_zone():
    from zoneinfo import ZoneInfo

    from core.listing import cancellations

    mexico = ZoneInfo("America/Mexico_City")
    # 02:00 UTC on 1 June is 20:00 on 31 May in Mexico City
    now = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    rows = [
        {"status": "cancelled", "cancelled_at": "2026-06-01T01:30:00.000000Z", "price": "25", "zone_id": "z1"}
    ]
    out = cancellations(rows, now, 2, lambda _row: mexico, [mexico])
    assert out["months"] == [
        {"month": "2026-04", "cancelled": 0, "services_total": "0.00"},
        {"month": "2026-05", "cancelled": 1, "services_total": "25.00"},
    ]
    # without time zones the UTC calendar is kept
    assert [m["month"] for m in cancellations(rows, now, 2)["months"]] == ["2026-05", "2026-06"]
