import pytest

from tests.webhooks._support import start_receiver


@pytest.fixture
def receiver():
    """A real HTTP receiver on 127.0.0.1 that verifies deliveries with the documented recipe."""
    server = start_receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()
