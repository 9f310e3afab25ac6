"""In-process caches of the records every Access-Request needs: products and policies.

Entries live ``ttl`` seconds. An expired entry is refreshed by the first request that sees it while
the others keep using the old value, and a refresh that fails keeps the old value: a datastore
hiccup never turns into rejected logins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from core.radius.model import PolicyView, ProductView
from shared.observability import get_logger
from store.radius_repo import RadiusStore

log = get_logger("radius")
T = TypeVar("T")


class TtlCache(Generic[T]):
    def __init__(
        self, load: Callable[[str], T | None], ttl: float, clock: Callable[[], float] = time.monotonic
    ):
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._items: dict[str, tuple[float, T | None]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        now = self._clock()
        item = self._items.get(key)
        if item is not None and now - item[0] < self._ttl:
            return item[1]
        if item is not None:
            with self._lock:
                if key in self._refreshing:
                    return item[1]
                self._refreshing.add(key)
            try:
                value = self._load(key)
            except Exception:
                log.exception("cache refresh failed, keeping the cached value", extra={"cache_key": key})
                self._items[key] = (now, item[1])
                return item[1]
            finally:
                with self._lock:
                    self._refreshing.discard(key)
            self._items[key] = (now, value)
            return value
        value = self._load(key)
        self._items[key] = (now, value)
        return value

    def invalidate(self, key: str | None = None) -> None:
        if key is None:
            self._items.clear()
        else:
            self._items.pop(key, None)


class CachedCatalog:
    """Products and policies with a short TTL (``settings.radius_cache_ttl``): a :class:`Catalog`."""

    def __init__(self, store: RadiusStore, ttl: float) -> None:
        self._products: TtlCache[ProductView] = TtlCache(store.get_product, ttl)
        self._policies: TtlCache[PolicyView] = TtlCache(store.get_policy, ttl)

    def product(self, product_id: str | None) -> ProductView | None:
        return self._products.get(product_id) if product_id else None

    def policy(self, policy_id: str | None) -> PolicyView | None:
        return self._policies.get(policy_id) if policy_id else None
