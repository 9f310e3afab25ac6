"""A router onboarded through the API becomes a peer of the VPN hub on the hub's next pull: the
onboarding script carries the key the hub published, and the hub's peer source (the Lambda handler
the hub invokes every 30 s) answers the new peer."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from chalice.test import Client

import api.app as api_app
from provisioner.vpn_hub import handle_hub_peers
from store.models import Gateway
from tests.fakes.provisioning import router_gateway
from tests.fakes.routeros import FakeRouter
from tests.integration.provisioner.test_provisioner_api import call, headers

PARAM = "/wispcloud/wisp-ci/vpn/hub-public-key"
HUB_KEY = base64.b64encode(b"h" * 32).decode()


@pytest.fixture(scope="module")
def world_settings(world_settings: dict[str, Any]) -> dict[str, Any]:
    return {**world_settings, "vpn_hub_public_key": None, "vpn_hub_key_parameter": PARAM}


class _Context:
    function_name = "VpnPeersFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:VpnPeersFunction"
    aws_request_id = "req-1"


def test_onboarded_router_is_a_hub_peer_on_the_next_pull(rt):
    h = headers(rt)
    with FakeRouter(username="wispcloud", password="pw") as router, Client(api_app.app) as client:
        gw = router_gateway(rt, router, api_host=None, api_username=None, api_password_enc=None)
        # Given a hub that has not started yet: no key to put in the script
        status, out = call(client, "post", f"/admin/gateways/{gw.id}/onboarding-script", h, {})
        assert status == 409, out
        assert "published" in out["error"]["message"]
        assert handle_hub_peers({}, _Context())["peers"] == 0
        # When the hub publishes its key and the operator onboards the router
        rt.aws.client("ssm").put_parameter(Name=PARAM, Value=HUB_KEY, Type="String")
        status, out = call(client, "post", f"/admin/gateways/{gw.id}/onboarding-script", h, {})
        assert status == 200, out
        assert f'public-key="{HUB_KEY}"' in out["script"]
    # Then the hub's next pull has the router's tunnel key at its tunnel address
    answer = handle_hub_peers({}, _Context())
    saved = Gateway.get(gw.id)
    assert answer["peers"] == 1 and answer["skipped"] == []
    assert f"PublicKey = {saved.vpn_public_key}\nAllowedIPs = {saved.vpn_address}/32" in answer["config"]
    assert json.dumps(answer)  # the hub reads it as JSON
