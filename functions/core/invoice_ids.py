"""Invoice ids and the one way they travel in a URL path.

Internet invoices have a deterministic id per client and *issue month* (SPEC S5: at most one internet
invoice per client per month by issue date): ``inv_<subscriber_id>_<YYYY-MM>``. It is made of URL-safe
characters only, so the id is its own path segment. Other-income invoices have random ids
(``oth_<hex>``), equally safe.

Invoices written before this scheme have ids ``inv#<subscriber_id>#<YYYY-MM>`` (month of the payment
date). They stay readable: in a path they travel URL-encoded (``%23``) or with ``~`` in place of ``#``
(their ``path_id``); :func:`from_path` turns either back into the stored id.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_LEGACY_SEPARATOR = "#"
_PATH_SEPARATOR = "~"
# Every character an invoice id (new or old) can hold; anything else names no invoice.
_ID_CHARS = re.compile(r"^[A-Za-z0-9_\-#]{1,300}$")


def internet_invoice_id(subscriber_id: str, issue_month: str) -> str:
    """The id of a client's internet invoice issued in ``issue_month`` (``YYYY-MM``)."""
    return f"inv_{subscriber_id}_{issue_month}"


def legacy_internet_invoice_id(subscriber_id: str, period: str) -> str:
    """The id an internet invoice of ``period`` (month of its payment date) had before URL-safe ids."""
    return f"inv#{subscriber_id}#{period}"


def path_id(invoice_id: str) -> str:
    """The form of an invoice id to put in a URL path (the id itself, except for old ids)."""
    return invoice_id.replace(_LEGACY_SEPARATOR, _PATH_SEPARATOR)


def from_path(raw: str) -> str | None:
    """The stored invoice id a path segment names, or None when it cannot name any invoice.

    Accepts the id itself, its URL-encoded form (decoded once more when the gateway already decoded
    it) and the ``~`` form of old ids.
    """
    text = unquote(raw or "").replace(_PATH_SEPARATOR, _LEGACY_SEPARATOR)
    return text if _ID_CHARS.match(text) else None
