"""The describe cache: per org and object, for its time to live, bounded, and a failed fetch keeps nothing."""

from __future__ import annotations

import pytest

from mappings.describe_cache import DescribeCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_are_kept_per_org_and_object_until_they_expire() -> None:
    clock = Clock()
    cache = DescribeCache(600, clock=clock)
    fetched: list[str] = []

    def fetch(name: str) -> dict[str, str]:
        fetched.append(name)
        return {"name": name}

    assert cache.get("org-a", "Contract", lambda: fetch("a:Contract")) == {"name": "a:Contract"}
    assert cache.get("org-a", "contract", lambda: fetch("again")) == {"name": "a:Contract"}
    assert cache.get("org-b", "Contract", lambda: fetch("b:Contract")) == {"name": "b:Contract"}
    assert cache.get("org-a", "Nope", lambda: None) is None
    assert cache.get("org-a", "Nope", lambda: fetch("nope")) is None  # "no such object" is kept too
    clock.now = 599
    assert cache.cached("org-a", "Contract")
    clock.now = 601
    assert not cache.cached("org-a", "Contract")
    assert cache.get("org-a", "Contract", lambda: fetch("fresh")) == {"name": "fresh"}
    assert cache.get("org-b", "Contract", lambda: fetch("b:fresh")) == {"name": "b:fresh"}
    cache.forget("org-a")
    assert not cache.cached("org-a", "Contract") and cache.cached("org-b", "Contract")
    assert fetched == ["a:Contract", "b:Contract", "fresh", "b:fresh"]


def test_a_failed_fetch_keeps_nothing_and_the_oldest_entries_go_first() -> None:
    cache = DescribeCache(600, max_entries=2)

    def fail() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        cache.get("org", "Contract", fail)
    assert not cache.cached("org", "Contract")
    for name in ("A", "B", "C"):
        cache.get("org", name, lambda: {})
    assert [cache.cached("org", name) for name in ("A", "B", "C")] == [False, True, True]
