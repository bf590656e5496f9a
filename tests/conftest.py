"""Test-wide setup: isolated temp dirs, no telemetry, and a hard block on non-loopback network."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from pathlib import Path

# Before gradio is imported anywhere (gradio6.md §7.2).
_TMP = Path(tempfile.mkdtemp(prefix="i2v-tests-"))
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_TEMP_DIR"] = str(_TMP / "gradio")
os.environ["NO_PROXY"] = "localhost,127.0.0.1"
os.environ.pop("RUNPOD_API_KEY", None)
os.environ.pop("CORETODAY_API_KEY", None)
tempfile.tempdir = str(_TMP)
os.environ["TMPDIR"] = str(_TMP)

import pytest  # noqa: E402

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(address) -> bool:
    if not isinstance(address, tuple):
        return True  # unix sockets
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except ValueError:
        return address[0] in _LOCAL_NAMES


def _guarded_connect(self, address):
    if not _is_loopback(address):
        raise OSError(f"tests may not reach the network (tried {address!r})")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_loopback(address):
        raise OSError(f"tests may not reach the network (tried {address!r})")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and name not in _LOCAL_NAMES:
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            raise socket.gaierror(f"tests may not resolve external names ({name!r})") from None
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    return _TMP


@pytest.fixture(scope="module")
def client(app):
    """A gradio_client for the module's `app` fixture (modules that start an in-process app)."""
    c = app.client()
    yield c
    c.close()
