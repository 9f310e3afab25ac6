"""Lambda entry point of the VPN hub's peer source (thin): the hub's sync timer invokes
:func:`handle_hub_peers` every 30 seconds and applies the ``config`` it answers with ``wg syncconf``
(the peer set is decided in :mod:`services.network.vpn_hub`)."""

from __future__ import annotations

from typing import Any

from composition import get_runtime
from services.network.vpn_hub import hub_peers
from shared.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handle_hub_peers(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Invoked by the hub's sync timer: the peers it must have."""
    return hub_peers(get_runtime())
