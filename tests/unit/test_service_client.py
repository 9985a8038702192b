"""The service client refuses to send its token where it would cross the network in clear."""

from __future__ import annotations

import pytest

from bakery.errors import UserError
from bakery.server.client import ServiceRecorder, check_service_url


@pytest.mark.parametrize(
    "url",
    [
        "https://registry.example",
        "https://registry.example:8443/",
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
        "http://127.1.2.3",
    ],
)
def test_https_anywhere_and_plain_http_on_loopback_are_allowed(url: str) -> None:
    check_service_url(url)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://registry.example", "clear text to registry.example"),
        ("http://10.0.0.5:8080", "clear text to 10.0.0.5"),
        ("http://[2001:db8::1]:8080", "clear text to 2001:db8::1"),
        ("ftp://registry.example", r"not an http\(s\) URL"),
        ("registry.example", r"not an http\(s\) URL"),
    ],
)
def test_a_url_that_would_leak_the_token_is_refused(url: str, said: str) -> None:
    with pytest.raises(UserError, match=said):
        check_service_url(url)


def test_the_recorder_refuses_before_it_sends_anything() -> None:
    with pytest.raises(UserError, match="clear text"):
        ServiceRecorder("http://registry.example", "secret-token")
