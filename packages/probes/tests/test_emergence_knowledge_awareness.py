"""Knowledge awareness: direction and latent scoring on planted activations, steering hooks, the SAE paths, and the
study on a tiny model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reflectlab.core.cache import Cache
from reflectlab.core.calibrate import calibrate_study
from reflectlab.core.config import ConfigValueError
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.base import user
from reflectlab.core.models.loader import load_model
from reflectlab.core.models.spec import ModelSpec
from reflectlab.probes.emergence.knowledge_awareness import KnowledgeAwarenessConfig, KnowledgeAwarenessStudy
from reflectlab.probes.emergence.knowledge_awareness.activations import corpus_rows, corpus_states
from reflectlab.probes.emergence.knowledge_awareness.directions import detection_findings
from reflectlab.probes.emergence.knowledge_awareness.entities import split
from reflectlab.probes.emergence.knowledge_awareness.sae_directions import latent_findings
from reflectlab.probes.emergence.knowledge_awareness.simulate import KnowledgeAwarenessSimulator
from reflectlab.probes.emergence.knowledge_awareness.steering import steering_findings


def _data(plant: float, n: int = 120, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    unknown = np.arange(n) % 2 == 0
    axis = rng.normal(size=d)
    axis /= np.linalg.norm(axis)
    x = rng.normal(size=(n, d)) + plant * np.outer(unknown.astype(float) - 0.5, axis)
    return x, unknown, split(list(unknown), 0.5, seed)


def _detect(plant: float) -> tuple[dict[str, Finding], int]:
    x, unknown, test = _data(plant)
    states = {4: x, 8: np.random.default_rng(1).normal(size=x.shape)}
    lengths = np.random.default_rng(2).integers(2, 6, len(x)).astype(float)
    findings, best, _ = detection_findings(states, unknown, test, lengths, margin=0.05, seed=0, n_bootstrap=300)
    return {f.metric: f for f in findings}, best


def test_a_planted_direction_is_found_at_its_layer() -> None:
    f, best = _detect(plant=3.0)
    assert best == 4
    assert f["direction_auroc"].verdict == "present"
    assert f["direction_auroc.layer4"].verdict == "present"
    assert f["direction_auroc.layer8"].verdict != "present"
    assert f["direction_minus_length_auroc"].verdict == "present"
    assert f["length_auroc"].verdict != "present"


def test_without_a_plant_nothing_is_present() -> None:
    f, _ = _detect(plant=0.0)
    for metric in (
        "direction_auroc",
        "direction_auroc.layer4",
        "direction_auroc.layer8",
        "direction_minus_length_auroc",
    ):
        assert f[metric].verdict != "present", metric


def _latents(plant_latent: int | None, generic_freq_of_plant: float = 0.0) -> tuple[dict[str, Finding], int]:
    rng = np.random.default_rng(0)
    n, width = 120, 64
    unknown = np.arange(n) % 2 == 0
    acts = np.where(rng.random((n, width)) < 0.1, rng.random((n, width)), 0.0)
    generic = np.full(width, 0.01)
    if plant_latent is not None:
        acts[:, plant_latent] = np.where(unknown & (rng.random(n) < 0.9), 1.0 + rng.random(n), 0.0)
        generic[plant_latent] = generic_freq_of_plant
    test = split(list(unknown), 0.5, 0)
    found, u, _ = latent_findings(acts, unknown, test, generic, max_generic=0.02, margin=0.05, seed=0, n_bootstrap=300)
    return {f.metric: f for f in found}, u


def test_a_planted_unknown_latent_is_found() -> None:
    f, chosen = _latents(plant_latent=17)
    assert chosen == 17
    assert f["unknown_latent_auroc"].verdict == "present"


def test_a_latent_frequent_on_generic_text_is_excluded() -> None:
    f, chosen = _latents(plant_latent=17, generic_freq_of_plant=0.3)
    assert chosen != 17
    assert f["unknown_latent_auroc"].verdict != "present"


def test_without_a_planted_latent_nothing_is_present() -> None:
    f, _ = _latents(plant_latent=None)
    assert f["unknown_latent_auroc"].verdict != "present"
    assert f["known_latent_auroc"].verdict != "present"


def test_steering_findings() -> None:
    n = 30
    on = np.ones(n)
    off = np.zeros(n)
    refused = {"known/none": off, "known/unknown_dir": on, "known/random": off,
               "fabricated/none": on, "fabricated/known_dir": off}  # fmt: skip
    f = {x.metric: x for x in steering_findings(refused, margin=0.05, seed=0, n_bootstrap=200)}
    assert f["steer_refusal_vs_random"].verdict == "present"
    assert f["known_direction_cuts_refusal"].verdict == "present"
    refused["known/random"] = on  # any direction makes it refuse: not specific
    f = {x.metric: x for x in steering_findings(refused, margin=0.05, seed=0, n_bootstrap=200)}
    assert f["steer_refusal_vs_random"].verdict != "present"  # 30/30 against 30/30: not specific
    assert f["steer_refusal_vs_none"].verdict == "present"
    assert (f["steer_refusal_vs_none"].n, f["steer_refusal_vs_none"].unit) == (30, "entity")
    assert not any(x.primary for x in f.values())  # the study's primary finding is the detection's


def test_a_model_that_never_refuses_reads_inconclusive_not_absent() -> None:
    never = np.zeros(24)
    refused = {arm: never for arm in ("known/none", "known/unknown_dir", "known/random", "fabricated/none",
                                      "fabricated/known_dir")}  # fmt: skip
    f = {x.metric: x for x in steering_findings(refused, margin=0.05, seed=0, n_bootstrap=200)}
    for x in f.values():
        assert x.verdict == "inconclusive", x.metric  # 0/24 against 0/24 is consistent with a 14-point effect
        assert x.ci_low < -0.1 and x.ci_high > 0.1
    wide = {x.metric: x for x in steering_findings(refused, margin=0.2, seed=0, n_bootstrap=200)}
    assert wide["steer_refusal_vs_random"].verdict == "absent"  # only a margin wider than the interval says absent


def test_a_direction_that_reads_known_as_unknown_is_reversed() -> None:
    x, unknown, test = _data(plant=3.0)
    swapped = np.where(test, ~unknown, unknown)  # the held-out half's labels the other way round
    lengths = np.full(len(x), 3.0)
    findings, _, _ = detection_findings({4: x}, swapped, test, lengths, margin=0.05, seed=0, n_bootstrap=300)
    f = {x.metric: x for x in findings}
    assert f["direction_auroc"].verdict == "reversed"
    assert (f["direction_auroc"].unit, f["direction_auroc"].n) == ("entity", int(test.sum()))
    assert [x.metric for x in findings if x.primary] == []  # the primary needs real/fabricated and familiarity


def _real_entities(knowledge: float, n: int = 200, seed: int = 0) -> dict[str, Finding]:
    """Real entities only (half known), whose states carry the name's familiarity (obscure names rarer) and, with
    ``knowledge`` > 0, a separate knowledge axis; plus as many fabricated pseudo-words offset on their own axis."""
    rng = np.random.default_rng(seed)
    unknown = np.concatenate([rng.random(n) < 0.5, np.ones(n, dtype=bool)])
    fabricated = np.repeat([False, True], n)
    familiarity = 4.0 + 1.2 * unknown + rng.normal(0, 1, 2 * n)
    x = rng.normal(size=(2 * n, 16))
    x[:, 0] += 0.8 * (familiarity - familiarity.mean())
    x[:, 1] += knowledge * unknown
    x[:, 2] += 3.0 * fabricated  # pseudo-words differ from real names in ways that are not knowledge
    test = split(list(unknown), 0.5, seed)
    findings, _, _ = detection_findings({4: x}, unknown, test, np.full(2 * n, 3.0), margin=0.05, seed=0,
                                        n_bootstrap=300, fabricated=fabricated, familiarity=familiarity)  # fmt: skip
    return {f.metric: f for f in findings}


def test_a_rare_name_is_not_knowledge_awareness() -> None:
    f = _real_entities(knowledge=0.0)
    assert f["direction_auroc"].verdict == "present"  # real vs fabricated: the pseudo-word axis alone does it
    assert f["real_direction_auroc"].verdict == "present"  # real known vs unknown: familiarity alone does it
    assert f["familiarity_auroc"].verdict == "present"
    primary = f["real_direction_minus_familiarity_auroc"]
    assert primary.primary and primary.verdict != "present"
    assert [g.metric for g in f.values() if g.primary] == [primary.metric]


def test_a_knowledge_signal_beyond_the_name_is_found_on_real_entities() -> None:
    f = _real_entities(knowledge=3.0)
    assert f["real_direction_minus_familiarity_auroc"].verdict == "present"
    assert f["real_direction_minus_shuffled_auroc"].verdict == "present"


def _sim_cfg() -> KnowledgeAwarenessConfig:
    return KnowledgeAwarenessConfig(layers=[0.5], n_bootstrap=300)


def test_the_simulator_under_the_null_and_planted() -> None:
    sim = KnowledgeAwarenessSimulator(_sim_cfg())
    data = sim.simulate(np.random.default_rng(0), 0.0)
    found = sim.measure(data, seed=0)
    assert [f.metric for f in found if f.primary] == ["real_direction_minus_familiarity_auroc"]
    assert all(f.verdict == "inconclusive" for f in found if f.metric.startswith("steer"))  # the refusal floor
    cal = calibrate_study("emergence/knowledge_awareness", sim, reps=60, mde=False)
    assert cal.false_present_rate <= 0.1
    assert cal.power >= 0.8


def test_steering_hooks_add_the_vector_and_come_off(tiny_dir: Path) -> None:
    model = load_model(ModelSpec(name=str(tiny_dir)))
    prompt = [user("The quick brown fox")]
    before = model.hidden_states(prompt, [2])
    v = np.random.default_rng(0).normal(size=(before.shape[-1],)).astype(np.float32)
    with model.steer({2: v}, scale=3.0):
        during = model.hidden_states(prompt, [2])
    after = model.hidden_states(prompt, [2])
    np.testing.assert_allclose(during - before, 3.0 * v[None, None, :], atol=1e-4)
    np.testing.assert_allclose(after, before)


def test_missing_sae_lens_is_a_one_line_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from reflectlab.probes.emergence.knowledge_awareness.sae import require_sae_lens

    monkeypatch.setitem(sys.modules, "sae_lens", None)  # what Python does for a module that cannot be imported
    with pytest.raises(UserError, match=r"pip install 'reflectlab-probes\[sae\]'"):
        require_sae_lens()


def _cfg(**kw: Any) -> KnowledgeAwarenessConfig:
    base: dict[str, Any] = dict(n_per_type=3, answer_tokens=4, layers=[0.5], sae_width=64, sae_k=4, sae_epochs=1.0,
                sae_batch_size=32, corpus_tokens=256, corpus_chunk=32, n_steer=3, n_random=1, steer_tokens=4,
                known_min_correct=0, n_bootstrap=50)  # fmt: skip
    base.update(kw)
    return KnowledgeAwarenessConfig(**base)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"n_random": 0}, "n_random"),
        ({"layers": [0.5, 1.5]}, "layers"),
        ({"entity_types": ["city", "planet"]}, "entity_types"),
        ({"sae_k": 2000}, "sae_k"),
        ({"sae_release": "some-release"}, "sae_id"),
        ({"n_bootstrap": 0}, "n_bootstrap"),
        ({"n_per_type": 1000}, "n_per_type"),  # more than the shipped set holds: refused, not silently capped
    ],
)
def test_out_of_range_settings_are_refused_on_creation(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigValueError) as err:
        KnowledgeAwarenessConfig(**overrides)
    assert err.value.key == key


def test_corpus_states_go_through_the_cache(tmp_path: Path, tiny_dir: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite")
    model = load_model(ModelSpec(name=str(tiny_dir)), cache)
    rows = corpus_rows(model, 96, 32, seed=0)
    first = corpus_states(model, 2, 96, 32, seed=0)
    assert first.shape == (sum(len(r) - 1 for r in rows), 64)  # every token but each row's first
    hits = cache.hits
    again = corpus_states(model, 2, 96, 32, seed=0)
    assert cache.hits == hits + len(rows)
    np.testing.assert_array_equal(again, first)


def test_the_study_trains_an_sae_that_loads_from_disk(tmp_path: Path, tiny_dir: Path) -> None:
    from sae_lens import SAE

    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path, work_dir=tmp_path / "w")
    # known_min_correct=0 labels every real entity known, so the tiny random model has both classes.
    findings = KnowledgeAwarenessStudy().run(ctx, _cfg())
    metrics = {f.metric for f in findings}
    assert {"direction_auroc", "length_auroc", "direction_minus_length_auroc", "unknown_latent_auroc",
            "steer_refusal_vs_random", "steer_refusal_vs_none", "real_direction_auroc", "familiarity_auroc",
            "real_direction_minus_familiarity_auroc"} <= metrics  # fmt: skip
    sae = SAE.load_from_disk(str(tmp_path / "sae"))
    assert sae.cfg.d_sae == 64 and sae.cfg.d_in == 64
    assert (tmp_path / "sae_quality.json").is_file()
    assert (tmp_path / "steering.jsonl").is_file() and (tmp_path / "samples.jsonl").is_file()


def test_a_saved_sae_is_loaded_instead_of_trained(tmp_path: Path, tiny_dir: Path) -> None:
    from reflectlab.probes.emergence.knowledge_awareness.sae import train_topk_sae

    vectors = np.random.default_rng(0).normal(size=(256, 64)).astype(np.float32)
    saved = tmp_path / "saved-sae"
    train_topk_sae(vectors, saved, d_sae=48, k=4, epochs=1.0, lr=1e-3, batch_size=32, seed=0,
                   metadata={"hook_name": "blocks.1.hook_resid_post"})  # fmt: skip
    out = tmp_path / "run"
    out.mkdir()
    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=out, work_dir=tmp_path / "w")
    findings = KnowledgeAwarenessStudy().run(ctx, _cfg(sae_path=str(saved)))
    latent = next(f for f in findings if f.metric == "unknown_latent_auroc")
    assert latent.details["source"] == str(saved) and latent.details["layer"] == 2  # from the hook name
    assert not (out / "sae").exists()  # nothing trained
    with pytest.raises(UserError, match="SAE folder not found"):
        KnowledgeAwarenessStudy().run(ctx, _cfg(sae_path=str(tmp_path / "nope")))


def test_steered_entities_are_stratified_by_type() -> None:
    from reflectlab.evals.tasks.entities import Entity
    from reflectlab.probes.emergence.knowledge_awareness.entities import Labelled
    from reflectlab.probes.emergence.knowledge_awareness.steering import by_type

    labs = [Labelled(Entity(name=f"{t}{i}", type=t, attributes={}), True, 1, {}) for t in ("city", "film")
            for i in range(5)]  # fmt: skip
    assert [lab.entity.type for lab in by_type(labs)[:4]] == ["city", "film", "city", "film"]
