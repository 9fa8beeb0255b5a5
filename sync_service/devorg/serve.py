"""Start the stand-in org: open (or create and seed) its data directory, then serve HTTPS.

The first line on stdout is one JSON object with everything a client needs to connect; scripts and test
fixtures read it and wait for nothing else.
"""

from __future__ import annotations

import gc
import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from sync_service.devorg.oauth import DEMO_USER_PASSWORD
from sync_service.devorg.org import Org
from sync_service.devorg.server.app import DevOrgApp
from sync_service.devorg.tls import load_or_create_ca, load_or_create_jwt_pair, server_certificate


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8443
    data: Path = Path("var/devorg")
    seed_contracts: int = 0
    flavour: str = "salesforce_cpq"
    seed: int = 1
    task_external_id: bool = True
    session_seconds: float = 7200.0
    daily_api_limit: int | None = None
    faults: dict[str, Any] | None = None
    jwt_certificate: Path | None = None
    callback_urls: list[str] = field(default_factory=list)  # none: keep the stored (or default) ones
    org_number: int | None = None  # none: the stored one (1 for a new org)


def open_org(options: ServeOptions, progress: Any = None) -> Org:
    options.data.mkdir(parents=True, exist_ok=True)
    org = Org(options.data, task_external_id=options.task_external_id, org_number=options.org_number)
    org.session_seconds = options.session_seconds
    if options.daily_api_limit is not None:
        org.set_daily_api_limit(options.daily_api_limit)
    if options.faults:
        org.faults.configure(options.faults)
    if options.callback_urls:
        org.oauth.app.configure({"callback_urls": options.callback_urls})
        org.oauth.save_app(org.store)
    if options.seed_contracts and org.store.get_meta("seeded") is None:
        from sync_service.devorg.seed import seed_org

        seed_org(
            org.store,
            contracts=options.seed_contracts,
            flavour=options.flavour,
            seed=options.seed,
            api_username=org.credentials.username,
            progress=progress,
        )
        org.store.set_meta("seeded", json.dumps({"contracts": options.seed_contracts, "flavour": options.flavour}))
    return org


def connection_info(
    org: Org, options: ServeOptions, port: int, ca_path: Path, jwt_key: Path, jwt_cert: Path
) -> dict[str, Any]:
    host = "localhost" if options.host in ("127.0.0.1", "0.0.0.0", "localhost") else options.host  # noqa: S104
    instance_url = f"https://{host}:{port}"
    seeded = json.loads(org.store.get_meta("seeded") or "{}")
    return {
        "instance_url": instance_url,
        "ca_cert": str(ca_path.resolve()),
        "username": org.credentials.username,
        "password": org.credentials.password,
        "security_token": org.credentials.security_token,
        "client_id": org.credentials.client_id,
        "client_secret": org.credentials.client_secret,
        "callback_urls": org.oauth.app.callback_urls,
        "user_password": DEMO_USER_PASSWORD,
        "jwt_private_key": str(jwt_key.resolve()),
        "jwt_certificate": str(jwt_cert.resolve()),
        "admin_token": org.admin_token,
        "org_id": org.org_id,
        "flavour": seeded.get("flavour"),
        "contracts": seeded.get("contracts", 0),
        "data_dir": str(options.data.resolve()),
        "web_view": f"{instance_url}/_devorg/",
    }


def serve(options: ServeOptions) -> None:
    # cheroot: a threaded WSGI server that keeps HTTP/1.1 connections alive, as Salesforce does (werkzeug's
    # development server closes every connection, which would make each call pay a TLS handshake).
    org = open_org(options)
    # The org's records are long-lived; moving them out of the collector's sight keeps full collections
    # (triggered by the many small objects a big query builds) from walking every record each time.
    gc.collect()
    gc.freeze()
    ca = load_or_create_ca(options.data / "tls")
    jwt_key, jwt_cert = load_or_create_jwt_pair(options.data / "jwt")
    org.jwt_certificate_pem = (options.jwt_certificate or jwt_cert).read_bytes()
    hosts = [] if options.host in ("0.0.0.0", "::") else [options.host]  # noqa: S104
    chain, key = server_certificate(ca, hosts, options.data / "tls")
    server = wsgi.Server((options.host, options.port), DevOrgApp(org), numthreads=16, server_name="devorg")
    server.ssl_adapter = BuiltinSSLAdapter(str(chain), str(key))
    server.prepare()
    port = int(server.bind_addr[1])
    info = connection_info(org, options, port, options.data / "tls" / "ca.pem", jwt_key, jwt_cert)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        with org.lock:
            org.store.close()
