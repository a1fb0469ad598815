"""A bounded, thread-safe mapping for process-wide caches: least recently used entries go first, and
entries older than `ttl` seconds (when given) expire. A long-running Space holds at most `maxsize`."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class LRU:
    def __init__(self, maxsize: int, ttl: float | None = None, clock: Callable[[], float] = time.monotonic):
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize, self.ttl, self._clock = maxsize, ttl, clock
        self._items: OrderedDict = OrderedDict()  # key -> (value, last used)
        self._lock = threading.RLock()

    def _expire(self) -> None:
        if self.ttl is None:
            return
        now = self._clock()
        for key in [k for k, (_, used) in self._items.items() if now - used > self.ttl]:
            del self._items[key]

    def get(self, key, default=None):
        with self._lock:
            self._expire()
            if key not in self._items:
                return default
            value, _ = self._items.pop(key)
            self._items[key] = (value, self._clock())
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (value, self._clock())
            self._expire()
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def get_or_create(self, key, make: Callable[[], object]):
        """The cached value, or `make()` stored under key. `make` runs under the lock, so two threads
        never build the same entry twice."""
        with self._lock:
            value = self.get(key, _MISSING)
            if value is _MISSING:
                value = make()
                self.put(key, value)
            return value

    def __contains__(self, key) -> bool:
        with self._lock:
            self._expire()
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_MISSING = object()
