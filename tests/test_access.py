"""Key choice, quotas, visitor identity and redaction (pure units)."""

from __future__ import annotations

import pytest

from errors import ConfigError, MissingApiKeyError, redact
from jobs.access import AccessPolicy, KeyChoice, KeySource, QuotaError, Visitor
from providers.capabilities import CAPABILITIES
from settings import Settings

RUNPOD = CAPABILITIES["runpod"]


def _policy(tmp_path, **overrides) -> AccessPolicy:
    return AccessPolicy(Settings(data_dir=tmp_path, **overrides))


def test_visitor_key_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "server")
    choice = _policy(tmp_path).choose_key(RUNPOD, " mine ")
    assert choice == KeyChoice(KeySource.VISITOR, "mine")
    assert "mine" not in repr(choice)


def test_server_key_is_used_locally(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "server")
    assert _policy(tmp_path).choose_key(RUNPOD, "").source is KeySource.SERVER


def test_public_mode_refuses_to_lend_without_opt_in(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "server")
    with pytest.raises(ConfigError, match="does not lend"):
        _policy(tmp_path, public=True).choose_key(RUNPOD, None)
    assert _policy(tmp_path, public=True, shared_keys=True).choose_key(RUNPOD, None).source is KeySource.SERVER


def test_no_key_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    with pytest.raises(MissingApiKeyError, match="RUNPOD_API_KEY"):
        _policy(tmp_path).choose_key(RUNPOD, "")
    assert _policy(tmp_path).choose_key(CAPABILITIES["preview"], "").source is KeySource.NONE


@pytest.mark.parametrize(
    ("today", "mine", "total", "message"),
    [(5, 0, 0, "Daily quota"), (0, 1, 1, "already have 1 run"), (0, 0, 10, "shared key is busy")],
)
def test_quotas(tmp_path, today, mine, total, message):
    policy = _policy(tmp_path, public=True, shared_keys=True)
    shared = KeyChoice(KeySource.SERVER, "k")
    with pytest.raises(QuotaError, match=message):
        policy.admit(shared, Visitor("ip:x"), today_count=today, running_mine=mine, running_all=total)
    # Visitors' own keys and local (non-public) runs are not limited.
    policy.admit(KeyChoice(KeySource.VISITOR, "k"), Visitor("ip:x"), today_count=99, running_mine=9, running_all=99)
    _policy(tmp_path).admit(shared, Visitor("ip:x"), today_count=99, running_mine=9, running_all=99)


def test_visitor_identity():
    user = Visitor.from_request("alice", "s1", {}, "10.0.0.1")
    assert user.id == "user:alice"
    a = Visitor.from_request(None, "s1", {"x-forwarded-for": "6.6.6.6, 10.0.0.1"}, "10.0.0.1")
    b = Visitor.from_request(None, "s2", {"x-forwarded-for": "6.6.6.6"}, "127.0.0.1")
    assert a.id == b.id and a.id.startswith("ip:") and "6.6.6.6" not in a.id


def test_redact():
    assert redact("HTTP 401: bad key sk-SENTINEL-8f3a9c2e71d04b5f") == "HTTP 401: bad key [redacted]"
    assert redact("echo mysecretkey", ("mysecretkey",)) == "echo [redacted]"
    kept = "job eaebd6e7-6a92-4bb8-a911-f996ac5ea99d sha256:e26275e85a313ccfc23dccb07623255a0e1840583d591c325d97"
    assert redact(kept) == kept
