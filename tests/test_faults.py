"""How a proxy's answer to CONNECT becomes advice (the words http.client raises with).

The proxies the other tests run answer 407 and 403; real ones also answer 401 to wrong
credentials (tinyproxy does) and 5xx when they cannot reach the target.
"""

from __future__ import annotations

import pytest

from productiv_upload.service.faults import Proxy, diagnose

PROXY = Proxy("http://someone:secret@127.0.0.1:3128", "HTTPS_PROXY")


@pytest.mark.parametrize(
    ("answer", "advice", "retryable"),
    [
        ("407 Proxy Authentication Required", "put the right user and password", False),
        ("401 Unauthorized", "put the right user and password in HTTPS_PROXY", False),
        ("403 Forbidden", "ask its administrator to allow api.example.com", False),
        ("400 Bad Request", "ask the proxy's administrator what it wants", False),
        ("502 Bad Gateway", "the proxy could not reach it; try again later", True),
    ],
)
def test_each_answer_of_a_proxy_gets_its_own_advice(
    answer: str, advice: str, retryable: bool
) -> None:
    fault = diagnose(
        OSError(f"Tunnel connection failed: {answer}"), "https://api.example.com/x", PROXY
    )

    assert fault.reason.startswith(
        f"the proxy 127.0.0.1:3128 (from HTTPS_PROXY) refused the tunnel: {answer}; {advice}"
    )
    assert fault.retryable is retryable
    assert "secret" not in fault.reason
