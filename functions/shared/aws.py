"""Lazily created boto3 clients bound to the configured endpoint (moto locally, AWS in the cloud)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.settings import Settings

# What a failed AWS call raises (the service refused it, or it could not be made)
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)


def aws_error_code(exc: BaseException) -> str:
    """The service's error code of a refused call (``InvalidParameterValue`` …), "" otherwise."""
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


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
                            # presigned S3 links signed with SigV4 (buckets refuse the older signature)
                            **({"signature_version": "s3v4"} if service == "s3" else {}),
                        ),
                    )
        return self._clients[service]
