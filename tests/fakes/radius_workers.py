"""Worker factories for :class:`radius_container.pool.RadiusPool` in tests: each worker process binds
the production DynamoDB store to a moto server (shared by all workers, unlike an in-process mock)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from composition import init_runtime
from radius_container.app import RadiusService, build_service
from shared.crypto import StaticKeyProvider
from shared.settings import Settings
from store.radius_repo import DynamoRadiusStore


class SlowWrites:
    """The store, with accounting writes that first touch ``marker`` and then take ``delay_s``."""

    def __init__(self, store: DynamoRadiusStore, marker: Path, delay_s: float) -> None:
        self._store = store
        self._marker = marker
        self._delay_s = delay_s

    def apply_subscriber_write(self, write: Any, seen_at: str | None) -> bool:
        self._marker.touch()
        time.sleep(self._delay_s)
        return self._store.apply_subscriber_write(write, seen_at)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def moto_worker(
    *,
    index: int,
    auth_port: int,
    acct_port: int,
    endpoint: str,
    table_prefix: str,
    key_hex: str,
    write_marker: str | None = None,
    write_delay_s: float = 0.0,
) -> RadiusService:
    settings = Settings(
        stage="test", region="us-east-1", table_prefix=table_prefix, aws_endpoint_url=endpoint
    )
    runtime = init_runtime(settings, StaticKeyProvider(bytes.fromhex(key_hex)))
    store: Any = DynamoRadiusStore()
    if write_marker:
        store = SlowWrites(store, Path(write_marker), write_delay_s)
    return build_service(
        store, runtime.box.decrypt, auth_port=auth_port, acct_port=acct_port, workers=8, reaper_s=None
    )
