"""Link hits in tests: a GET appends its raw hit, and its event (and a human open's Task) exists once a drain
has run, as the start of every push runs it (``sync_service.link_hits``)."""

from __future__ import annotations

from flask import Flask

from sync_service.link_hits import drain_hits
from sync_service.store.db import current_database


def drain(app: Flask) -> int:
    """Classify and store the hits appended so far; returns how many became events."""
    with app.app_context():
        return drain_hits(current_database().sessionmaker)
