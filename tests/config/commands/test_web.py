"""`renewals web` serves the app under gunicorn, as the Procfile's web process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from config.settings import Settings
from tests.conftest import TEST_SECRET_KEY, free_port

RENEWALS = str(Path(sys.executable).with_name("renewals"))


def test_renewals_web_serves_the_app_with_gunicorn(settings: Settings) -> None:
    port = free_port()
    env = {
        **os.environ,
        "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
        "RENEWALS_DATABASE_URL": settings.database_url,
        "RENEWALS_WEB_PORT": str(port),
        "RENEWALS_WEB_WORKERS": "1",
    }
    process = subprocess.Popen([RENEWALS, "web"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, "renewals web exited"
                assert time.monotonic() < deadline, "renewals web did not answer within 30 s"
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=30)
    assert "gunicorn" in log.lower() or "Booting worker" in log
    assert TEST_SECRET_KEY not in log
