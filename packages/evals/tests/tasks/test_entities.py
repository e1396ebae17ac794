"""The shipped entity set, answer checking, and fabricated names matched in token length."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from reflectlab.core.errors import UserError
from reflectlab.evals.tasks.entities import ENTITY_TYPES, check_answer, fabricate, load_entities


def test_the_shipped_set_has_four_types_with_two_attributes_each() -> None:
    es = load_entities()
    counts = Counter(e.type for e in es.entities)
    assert set(counts) == set(ENTITY_TYPES)
    assert min(counts.values()) >= 30
    assert all(len(e.attributes) >= 2 and all(e.attributes.values()) for e in es.entities)
    assert len({e.name for e in es.entities}) == len(es.entities)
    paris = next(e for e in es.entities if e.name == "Paris")
    assert es.question(paris, "country") == "In which country is the city of Paris?"


def test_answers_are_checked_as_whole_words() -> None:
    assert check_answer("It is in France, of course.", ["France"])
    assert check_answer("the usa", ["United States", "USA"])
    assert not check_answer("Francesca", ["France"])
    assert not check_answer("I do not know.", ["France"])


def test_fabricated_names_match_in_token_length(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)

    def count(name: str) -> int:
        return len(tok(" " + name, add_special_tokens=False)["input_ids"])

    real = load_entities().entities
    fake = fabricate(real, count, seed=0)
    assert [f.type for f in fake] == [r.type for r in real]
    matched = sum(count(f.name) == count(r.name) for f, r in zip(fake, real, strict=True))
    assert matched / len(real) >= 0.95
    names = {r.name.lower() for r in real}
    assert not any(f.name.lower() in names for f in fake)
    assert len({f.name for f in fake}) == len(fake)
    assert all(f.fabricated and not f.attributes for f in fake)


def test_bad_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_entities(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"attributes": {}, "mention": {}, "entities": [{"type": "city"}]}')
    with pytest.raises(UserError, match="not a valid entity file"):
        load_entities(bad)
    bad.write_text("{not json")
    with pytest.raises(UserError):
        load_entities(bad)
