"""SQLite ledger of jobs (stdlib, WAL). A row is written before the submit goes out."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobs.models import ACTIVE_STATES
from jobs.record import JobRecord

__all__ = ["JobStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    provider TEXT NOT NULL,
    state TEXT NOT NULL,
    provider_job_id TEXT,
    request_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    visitor TEXT,
    key_source TEXT NOT NULL DEFAULT 'none',
    client_key TEXT,
    record TEXT NOT NULL
);
"""
# Columns added after the first release of the table, added in place to older ledgers.
_ADDED_COLUMNS = {"visitor": "TEXT", "key_source": "TEXT NOT NULL DEFAULT 'none'", "client_key": "TEXT"}
_INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, created_at);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_visitor ON jobs(visitor, key_source, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_client_key ON jobs(owner, client_key) WHERE client_key IS NOT NULL;
"""


class JobStore:
    """One connection, serialised by a lock; each write is its own short transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        existing = {row[1] for row in self._conn.execute("PRAGMA table_info(jobs)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in existing:
                self._conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
        self._conn.executescript(_INDEXES)
        self._lock = threading.Lock()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def save(self, record: JobRecord) -> None:
        """Insert or update the row for `record`."""
        with self._transaction() as conn:
            conn.execute(
                """INSERT INTO jobs (id, owner, provider, state, provider_job_id, request_hash,
                                     created_at, updated_at, visitor, key_source, client_key, record)
                   VALUES (:id, :owner, :provider, :state, :provider_job_id, :request_hash,
                           :created_at, :updated_at, :visitor, :key_source, :client_key, :record)
                   ON CONFLICT(id) DO UPDATE SET state = :state, provider_job_id = :provider_job_id,
                       updated_at = :updated_at, record = :record""",
                {
                    "id": record.id,
                    "owner": record.owner,
                    "provider": record.provider,
                    "state": record.state.value,
                    "provider_job_id": record.provider_job_id,
                    "request_hash": record.request_hash,
                    "created_at": record.created_at,
                    "updated_at": record.timeline[-1]["at"] if record.timeline else record.created_at,
                    "visitor": record.visitor,
                    "key_source": record.key_source,
                    "client_key": record.client_key,
                    "record": record.to_json(),
                },
            )

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._conn.execute("SELECT record FROM jobs WHERE id = :id", {"id": job_id}).fetchone()
        return JobRecord.from_json(row[0]) if row else None

    def list_for_owner(self, owner: str, limit: int = 50) -> list[JobRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT record FROM jobs WHERE owner = :owner ORDER BY created_at DESC LIMIT :limit",
                {"owner": owner, "limit": limit},
            ).fetchall()
        return [JobRecord.from_json(r[0]) for r in rows]

    def find_by_client_key(self, owner: str, client_key: str) -> JobRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT record FROM jobs WHERE owner = :owner AND client_key = :key",
                {"owner": owner, "key": client_key},
            ).fetchone()
        return JobRecord.from_json(row[0]) if row else None

    def delete(self, job_id: str, owner: str) -> bool:
        """Delete one of `owner`'s jobs; False if it is not theirs."""
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM jobs WHERE id = :id AND owner = :owner", {"id": job_id, "owner": owner})
        return cursor.rowcount > 0

    def count_started_since(self, visitor: str, since: str, key_source: str) -> int:
        """Jobs this visitor started on `key_source` since the ISO time `since` (for quotas)."""
        with self._lock:
            row = self._conn.execute(
                """SELECT COUNT(*) FROM jobs WHERE visitor = :visitor AND key_source = :key_source
                   AND created_at >= :since""",
                {"visitor": visitor, "key_source": key_source, "since": since},
            ).fetchone()
        return int(row[0])

    def list_active(self) -> list[JobRecord]:
        states = [s.value for s in ACTIVE_STATES]
        marks = ",".join("?" * len(states))
        with self._lock:
            rows = self._conn.execute(f"SELECT record FROM jobs WHERE state IN ({marks})", states).fetchall()
        return [JobRecord.from_json(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
