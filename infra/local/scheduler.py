"""The local stack's billing schedule: the same operations the EventBridge rules trigger in the cloud.

Every quarter-hour it runs the rate-modulation run (it acts where a gateway's local hour starts); every ``interval_s`` the stale-session reaper; the billing runs (invoices, notices, cutoffs, promise expiry) run at start
and then every ``billing_every_s`` — they are idempotent, so running them more often than daily only
costs reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from billing_cron.reaper import reap_stale_sessions
from core.ids import utcnow
from core.modulation import run_slot
from services.billing.cutoffs import run_cutoffs, run_promise_expiry
from services.billing.invoice_run import run_invoices
from services.billing.notices import run_notices
from services.modulation_run import run_modulation_now
from services.subscribers.inactivity import mark_inactive
from shared.observability import get_logger
from shared.runtime import Runtime

log = get_logger("billing")

# The same jobs in the cloud: one scheduled function each (infra/template/functions.py). A test runs this
# scheduler and compares its jobs with this table and with template.yaml.
CLOUD_HANDLERS: dict[str, str] = {
    "modulation": "billing_cron.modulation.handle_modulation_run",
    "reaper": "billing_cron.reaper.handle_reap_stale_sessions",
    "invoices": "billing_cron.handlers.handle_invoice_run",
    "notices": "billing_cron.handlers.handle_notice_run",
    "cutoffs": "billing_cron.handlers.handle_cutoff_run",
    "promise_expiry": "billing_cron.handlers.handle_promise_expiry",
    "inactivity": "billing_cron.inactivity.handle_inactivity_run",
}


def run_billing_once(rt: Runtime, now: datetime | None = None) -> dict[str, int]:
    """One pass of every billing run; a failing run is logged and does not stop the others."""
    now = now or utcnow()
    out: dict[str, int] = {}
    steps: list[tuple[str, Callable[[], int]]] = [
        ("invoices", lambda: sum(r.created for r in run_invoices(rt, now))),
        ("notices", lambda: sum(r.emails + r.sms for r in run_notices(rt, now))),
        ("cutoffs", lambda: sum(len(r.suspended) for r in run_cutoffs(rt, now))),
        ("promise_expiry", lambda: sum(len(r.suspended) for r in run_promise_expiry(rt, now))),
        ("inactivity", lambda: mark_inactive(rt, now)),
    ]
    for name, step in steps:
        try:
            out[name] = step()
        except Exception:
            log.exception("billing run failed", extra={"run": name})
            out[name] = -1
    return out


def run_scheduler(
    rt: Runtime, stop_event: threading.Event, interval_s: float = 60, billing_every_s: float = 900
) -> None:
    """Loop until ``stop_event`` is set (the local stack runs it in a thread)."""
    last_billing = float("-inf")
    last_modulation_slot: datetime | None = None
    while not stop_event.is_set():
        now = utcnow()
        slot = run_slot(now)
        if slot != last_modulation_slot:  # modulation acts where a gateway's local hour starts
            last_modulation_slot = slot
            try:
                run_modulation_now(rt, now)
            except Exception:
                log.exception("rate-modulation run failed")
        try:
            reap_stale_sessions(rt, now)
        except Exception:
            log.exception("stale-session reaper failed")
        if time.monotonic() - last_billing >= billing_every_s:
            last_billing = time.monotonic()
            log.info("billing runs", extra=run_billing_once(rt, now))
        stop_event.wait(interval_s)
