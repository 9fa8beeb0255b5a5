"""`renewals web` serves the app under gunicorn, as the Procfile's web process."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.processes import free_port, renewals_env, start_web, stop_process


def test_renewals_web_serves_the_app_with_gunicorn(settings: Settings, tmp_path: Path) -> None:
    port = free_port()  # gunicorn is told its port: it cannot report one the OS picked
    env = renewals_env(
        {
            "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
            "RENEWALS_DATABASE_URL": settings.database_url,
            "RENEWALS_WEB_PORT": str(port),
            "RENEWALS_WEB_WORKERS": "1",
        }
    )
    log = tmp_path / "web.log"
    # start_web returns once /healthz answers 200 (and fails if the process exits first).
    process = start_web(env, log, f"http://127.0.0.1:{port}/healthz")
    stop_process(process)
    output = log.read_text()
    assert "gunicorn" in output.lower() or "Booting worker" in output
    assert TEST_SECRET_KEY not in output
