"""A damaged cache: undecodable rows are misses that get recomputed; a file that is not SQLite is one line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.cache import Cache
from reflectlab.core.errors import UserError


def test_damaged_rows_are_misses_recomputed_and_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cache.sqlite"
    cache = Cache(path)
    cache.put_many((f"k{i}", {"text": f"v{i}"}) for i in range(8))
    cache.close()
    db = sqlite3.connect(path)
    db.executemany("UPDATE entries SET value = ? WHERE key = ?", [('{"text": "v', f"k{i}") for i in range(5)])
    db.commit()
    db.close()

    cache = Cache(path)
    keys = [f"k{i}" for i in range(8)]
    found = cache.get_many(keys)
    assert sorted(found) == ["k5", "k6", "k7"]
    assert (cache.hits, cache.misses, cache.damaged) == (3, 5, 5)
    cache.put_many((k, {"text": "again"}) for k in keys if k not in found)  # what the backend does with misses
    assert capsys.readouterr().err == ""  # no line per row
    cache.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"warning: 5 damaged rows in the cache {path} were read as misses, recomputed and overwritten"]

    cache = Cache(path)
    assert len(cache.get_many(keys)) == 8 and cache.damaged == 0
    cache.close()
    assert capsys.readouterr().err == ""


def test_a_damaged_array_row_is_a_miss(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite")
    cache.put_arrays([("a", np.arange(6, dtype=np.float32).reshape(2, 3))])
    cache._db.execute("UPDATE arrays SET data = ? WHERE key = 'a'", (b"\x00\x01\x02",))
    assert cache.get_arrays(["a"]) == {} and cache.damaged == 1
    cache.close()


def test_a_cache_that_is_not_sqlite_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database, it is a note someone saved here\n" * 100)
    with pytest.raises(UserError) as info:
        Cache(path)
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        f"the cache {path} is not a SQLite database; move it away or delete it (the cache is rebuilt from scratch), "
        "or run with cache=false"
    )


def test_a_cache_folder_that_cannot_be_made_is_one_line() -> None:
    with pytest.raises(UserError, match=r"cannot write the cache /proc/nope/cache.sqlite"):
        Cache(Path("/proc/nope/cache.sqlite"))
