from pathlib import Path

from reflectlab.core.cache import Cache, content_key


def test_round_trip_and_counts(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c.sqlite")
    cache.put_many([("a", {"x": 1}), ("b", [1, 2])])
    assert cache.get_many(["a", "b", "c"]) == {"a": {"x": 1}, "b": [1, 2]}
    assert (cache.hits, cache.misses) == (2, 1)
    assert len(cache) == 2
    cache.close()
    assert Cache(tmp_path / "c.sqlite").get_many(["a"]) == {"a": {"x": 1}}  # persists


def test_keys_separate_every_part_of_the_request() -> None:
    base = content_key("gen", "fp", [1, 2, 3], {"temperature": 0.7}, 0)
    assert base == content_key("gen", "fp", [1, 2, 3], {"temperature": 0.7}, 0)
    assert base != content_key("gen", "fp", [1, 2, 3], {"temperature": 1.0}, 0)
    assert base != content_key("gen", "fp", [1, 2, 3], {"temperature": 0.7}, 1)
    assert base != content_key("gen", "fp2", [1, 2, 3], {"temperature": 0.7}, 0)
    assert base != content_key("gen", "fp", [1, 2], {"temperature": 0.7}, 0)
