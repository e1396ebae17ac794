"""A content-addressed SQLite cache of generations and scores.

A key is the SHA-256 of everything that determines a result: the kind of call, the model fingerprint (weights,
adapter, dtype, active steering), the exact input token ids, the full sampling config and the seed. A sample drawn
at one temperature or seed therefore can never be returned for another.

Values are JSON, except arrays (hidden states, token states), which are stored as their raw bytes with dtype and
shape in a second table and come back bit for bit.
"""

from __future__ import annotations

import errno
import hashlib
import json
import sqlite3
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from reflectlab.core.errors import UserError


def content_key(*parts: Any) -> str:
    """SHA-256 of a canonical JSON rendering of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Cache:
    """Key-value store of JSON values; safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = _connect(self.path)  # one line and exit 2 for a file that is not a SQLite database
        self._db.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS arrays (key TEXT PRIMARY KEY, dtype TEXT NOT NULL, shape TEXT NOT NULL, "
            "data BLOB NOT NULL)"
        )
        self._db.commit()
        self.hits = 0
        self.misses = 0
        self.damaged = 0  # rows that could not be decoded: read as misses, recomputed and overwritten

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk)
                for k, v in rows:
                    try:
                        found[k] = json.loads(v)
                    except (TypeError, ValueError):  # a damaged row is a miss; the recomputed value replaces it
                        self.damaged += 1
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return found

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        rows = [(k, json.dumps(v)) for k, v in items]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", rows)
            self._db.commit()

    def get_arrays(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The stored arrays among ``keys``, with the dtype and shape they were put with."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, dtype, shape, data FROM arrays WHERE key IN ({marks})", chunk)
                for k, dtype, shape, data in rows:
                    try:
                        found[k] = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape)).copy()
                    except (TypeError, ValueError):  # a damaged row is a miss, like in get_many
                        self.damaged += 1
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return found

    def put_arrays(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store arrays as raw bytes (C order) beside their dtype and shape."""
        rows = []
        for k, value in items:
            a = np.ascontiguousarray(value)
            rows.append((k, a.dtype.str, json.dumps(list(a.shape)), a.tobytes()))
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO arrays (key, dtype, shape, data) VALUES (?, ?, ?, ?)", rows)
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            entries = int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
            return entries + int(self._db.execute("SELECT COUNT(*) FROM arrays").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self.damaged:
            print(
                f"warning: {self.damaged} damaged rows in the cache {self.path} were read as misses, recomputed "
                "and overwritten",
                file=sys.stderr,
            )
            self.damaged = 0


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to the cache at ``path`` in WAL mode; :class:`UserError` (one line) when the folder cannot be
    written or the file is not a SQLite database."""
    from reflectlab.core.atomic import disk_full, is_disk_full

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, timeout=60)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(path, exc) from exc
        raise UserError(f"cannot write the cache {path} ({exc.strerror or exc})") from None
    except sqlite3.Error as exc:
        raise UserError(f"cannot open the cache {path} ({exc}); check that its folder is writable") from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        db.close()
        code = getattr(exc, "sqlite_errorcode", None)
        if code == sqlite3.SQLITE_NOTADB or "not a database" in str(exc):
            raise UserError(
                f"the cache {path} is not a SQLite database; move it away or delete it (the cache is rebuilt "
                "from scratch), or run with cache=false"
            ) from None
        if code == sqlite3.SQLITE_FULL:
            raise disk_full(path, OSError(errno.ENOSPC, "database or disk is full")) from None
        raise UserError(f"cannot open the cache {path} ({exc}); move it away or run with cache=false") from None
    return db
