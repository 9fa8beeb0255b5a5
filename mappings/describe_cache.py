"""What an org's describe() said, kept for a while: the admin console's field pickers and validations ask for
the same objects on every page, and each describe is one API call counted against the day's budget.

A `DescribeCache` lives in one process and keys every entry by the org (an `org_key` naming the login host,
instance and user — never a secret: what a user may see of the schema depends on who signs in) and the object
name, case-insensitively. Entries expire `ttl` seconds after they were fetched (10 minutes by default); a
"no such object" answer is kept like any other. The number of objects kept is bounded: the oldest go first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

DEFAULT_TTL = 600.0
MAX_ENTRIES = 500
# The key of the global describe (the list of the org's objects) among the objects' keys.
GLOBAL = "*"

Describe = dict[str, Any] | None


class DescribeCache:
    def __init__(
        self, ttl: float = DEFAULT_TTL, *, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ):
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, Describe]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, org_key: str, name: str, fetch: Callable[[], Describe]) -> Describe:
        """The cached describe of `name` in the org, else `fetch()`'s answer, kept for `ttl` seconds. A fetch
        that raises keeps nothing."""
        key = (org_key, name.lower())
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > self.clock():
                return entry[1]
        value = fetch()  # outside the lock: a slow org must not hold up readers of other entries
        with self._lock:
            self._entries[key] = (self.clock() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def cached(self, org_key: str, name: str) -> bool:
        with self._lock:
            entry = self._entries.get((org_key, name.lower()))
            return entry is not None and entry[0] > self.clock()

    def forget(self, org_key: str) -> None:
        """Drop everything kept about one org (after a change in its Setup, say)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == org_key]:
                del self._entries[key]
