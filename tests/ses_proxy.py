"""An HTTP proxy in front of moto's server that injects SES answers: throttling (both API versions' codes),
rejections, the daily quota, and answers lost after SES took the email. The real boto3 client talks to it
as to SES; everything not injected is forwarded to moto unchanged."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from werkzeug.wrappers import Request, Response

from tests.processes import serve_wsgi

SEND_PATH = "/v2/email/outbound-emails"


@dataclass
class Fault:
    status: int
    code: str
    message: str
    forward: bool = False  # send it to moto first (SES took it), then answer with the fault
    delay: float = 0.0  # seconds to wait before answering


THROTTLE_V2 = Fault(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
THROTTLE_V1 = Fault(400, "Throttling", "Maximum sending rate exceeded.")
DAILY_QUOTA = Fault(400, "Throttling", "Daily message quota exceeded.")
REJECTED = Fault(400, "MessageRejected", "Email address is not verified.")


@dataclass
class SesProxy:
    upstream: str
    url: str = ""
    # Faults for the next SendEmail calls, in order; then calls pass through.
    faults: list[Fault] = field(default_factory=list)
    sends: int = 0  # SendEmail calls that reached the proxy
    # Answer the next N GetSendQuota calls (SES v1's query API) with `Throttling`.
    quota_throttles: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        fault = None
        if request.method == "POST" and request.path == SEND_PATH:
            with self.lock:
                self.sends += 1
                fault = self.faults.pop(0) if self.faults else None
        body = request.get_data()
        if request.method == "POST" and request.path == "/" and b"Action=GetSendQuota" in body:
            with self.lock:
                throttle, self.quota_throttles = self.quota_throttles > 0, max(0, self.quota_throttles - 1)
            if throttle:
                xml = (
                    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                    "<Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>"
                )
                return Response(xml, status=400, content_type="text/xml")(environ, start_response)
        if fault is None or fault.forward:
            upstream = requests.request(
                request.method,
                self.upstream + request.full_path.rstrip("?"),
                data=body,
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                timeout=30,
            )
            if fault is None:
                headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
                return Response(upstream.content, status=upstream.status_code, headers=headers)(environ, start_response)
        assert fault is not None
        if fault.delay:
            time.sleep(fault.delay)
        answer = Response(
            f'{{"message": "{fault.message}"}}',
            status=fault.status,
            headers={"x-amzn-ErrorType": f"{fault.code}:", "Content-Type": "application/json"},
        )
        return answer(environ, start_response)


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}


@contextmanager
def ses_proxy(upstream: str) -> Iterator[SesProxy]:
    """The proxy in front of moto's server at `upstream`, served in a thread until the block ends."""
    proxy = SesProxy(upstream)
    with serve_wsgi(proxy) as url:
        proxy.url = url
        yield proxy
