"""Payment reminders: an invoice marked reminded once, and only while it still owes what was read."""

from __future__ import annotations

from store.billing import invoice_as_read, update_invoice
from store.models import Invoice


def claim_reminder(invoice: Invoice, now: str) -> bool:
    """Mark ``invoice`` reminded (``notified_at``), conditional on no reminder yet and on the status and
    paid amount read into it: False when another run reminded it first or it was paid (in full or in
    part) or cancelled meanwhile. When it is marked, ``invoice`` holds the item as the write left it."""
    return update_invoice(
        invoice,
        [Invoice.notified_at.set(now)],
        Invoice.notified_at.does_not_exist() & invoice_as_read(invoice),
    )
