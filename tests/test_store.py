"""The SQLite ledger: round trip, owner isolation, idempotency keys, migration of older files."""

from __future__ import annotations

import sqlite3

from jobs.models import JobState
from jobs.record import JobRecord
from jobs.store import JobStore


def _record(job_id: str, owner: str, client_key: str | None = None) -> JobRecord:
    record = JobRecord(
        id=job_id,
        owner=owner,
        provider="runpod",
        state=JobState.CREATED,
        request={"seed": 1},
        request_hash="h",
        client_key=client_key,
    )
    record.mark(JobState.CREATED)
    return record


def test_round_trip_and_owner_isolation(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.save(_record("a", "token:alice"))
    store.save(_record("b", "token:bob"))
    assert [r.id for r in store.list_for_owner("token:alice")] == ["a"]
    assert store.get("a").owner == "token:alice"
    assert not store.delete("a", "token:bob") and store.get("a") is not None
    assert store.delete("a", "token:alice") and store.get("a") is None


def test_client_key_is_unique_per_owner(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.save(_record("a", "token:alice", client_key="k1"))
    assert store.find_by_client_key("token:alice", "k1").id == "a"
    assert store.find_by_client_key("token:bob", "k1") is None


def test_older_ledger_is_migrated_in_place(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, provider TEXT NOT NULL, state TEXT NOT NULL,"
            " provider_job_id TEXT, request_hash TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
            " record TEXT NOT NULL)"
        )
    store = JobStore(path)
    store.save(_record("a", "token:alice", client_key="k"))
    assert store.count_started_since("x", "2000-01-01", "none") == 0
    assert store.find_by_client_key("token:alice", "k").id == "a"
