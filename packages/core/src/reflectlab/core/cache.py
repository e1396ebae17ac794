"""A content-addressed SQLite cache of generations and scores.

A key is the SHA-256 of everything that determines a result: the kind of call, the model fingerprint (weights,
adapter, dtype, active steering), the exact input token ids, the full sampling config and the seed. A sample drawn
at one temperature or seed therefore can never be returned for another.

Values are JSON, except arrays (hidden states, token states), which are stored as their raw bytes with dtype and
shape in a second table and come back bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np


def content_key(*parts: Any) -> str:
    """SHA-256 of a canonical JSON rendering of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Cache:
    """Key-value store of JSON values; safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS arrays (key TEXT PRIMARY KEY, dtype TEXT NOT NULL, shape TEXT NOT NULL, "
            "data BLOB NOT NULL)"
        )
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk)
                found.update((k, json.loads(v)) for k, v in rows)
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
                    found[k] = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape)).copy()
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
