"""The production wiring (DynamoDB store, settings) as the local stack and the container start it."""

from __future__ import annotations

import http.client
import socket
from dataclasses import replace

from pyrad.packet import AccessAccept

from radius_container.app import start_runtime_in_thread
from tests.fakes.radius import ANSWER_RETRIES, ANSWER_TIMEOUT_S, DICTIONARY, pap_request

from .conftest import RadiusEnv


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_service_from_settings_answers_and_reports_health(env: RadiusEnv):
    from pyrad.client import Client

    health_port = _free_tcp_port()
    settings = env.runtime.settings.with_overrides(
        radius_bind="127.0.0.1", radius_auth_port=0, radius_acct_port=0, radius_health_port=health_port
    )
    handle = start_runtime_in_thread(replace(env.runtime, settings=settings))
    try:
        client = Client(
            server="127.0.0.1",
            authport=handle.auth_port,
            acctport=handle.acct_port,
            secret=b"testing123",
            dict=DICTIONARY,
            timeout=ANSWER_TIMEOUT_S,
            retries=ANSWER_RETRIES,
        )
        assert client.SendPacket(pap_request(client, "demo", "demo123")).code == AccessAccept
        conn = http.client.HTTPConnection("127.0.0.1", health_port, timeout=ANSWER_TIMEOUT_S)
        conn.request("GET", "/health")
        response = conn.getresponse()
        assert response.status == 200 and b'"status": "ok"' in response.read()
    finally:
        handle.stop()
