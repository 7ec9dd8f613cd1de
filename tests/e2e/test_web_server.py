"""The web server as scripts meet it: gunicorn with the settings of ``gunicorn.conf.py``."""

import http.client
import time
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e


def test_a_kept_alive_connection_outlives_a_polling_interval(live_site):
    """pynv and the docs' examples poll every 2 s on one connection; the server must not drop it in between."""
    address = urlsplit(live_site.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        for _ in range(2):
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200
            time.sleep(3)
    finally:
        connection.close()
