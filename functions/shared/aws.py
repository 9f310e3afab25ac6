"""Lazily created boto3 clients bound to the configured endpoint (moto locally, AWS in the cloud)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from shared.settings import Settings


class AwsClients:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            with self._lock:
                if service not in self._clients:
                    self._clients[service] = boto3.client(
                        service,  # type: ignore[call-overload]
                        region_name=self._settings.region,
                        endpoint_url=self._settings.aws_endpoint_url,
                        config=Config(
                            retries={"max_attempts": 3, "mode": "standard"},
                            connect_timeout=3,
                            read_timeout=10,
                        ),
                    )
        return self._clients[service]
