"""Writes that cannot be half-done: a crash or a full disk leaves the old file or the new one, never a part."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from reflectlab.core.atomic import (
    DiskFull,
    atomic_copy,
    atomic_dir,
    atomic_write_text,
    is_disk_full,
    stopped_by_full_disk,
)
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding, read_findings, write_findings
from reflectlab.core.tracking import write_jsonl


def _no_leftovers(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if ".partial" in p.name or ".old-" in p.name]


def test_atomic_write_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "findings.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    _no_leftovers(tmp_path)


def test_a_full_disk_keeps_the_old_file_and_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "findings.json"
    target.write_text("old and whole")

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)  # fails after the bytes went to the temporary file
    with pytest.raises(DiskFull) as info:
        atomic_write_text(target, "new")
    assert isinstance(info.value, UserError)
    assert str(info.value) == f"disk full while writing {target} (No space left on device)"
    assert target.read_text() == "old and whole"
    _no_leftovers(tmp_path)


def test_atomic_copy_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = tmp_path / "a.txt", tmp_path / "b.txt"
    src.write_text("new")
    dst.write_text("old")

    def full(a: object, b: object, **_: object) -> None:
        Path(str(b)).write_text("ne")  # half of it went out before the disk filled
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    with pytest.raises(DiskFull):
        atomic_copy(src, dst)
    assert dst.read_text() == "old"
    _no_leftovers(tmp_path)


def test_atomic_dir_renames_on_success_and_removes_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "sae"
    with atomic_dir(target) as part:
        assert part != target and not target.exists()
        (part / "cfg.json").write_text("{}")
    assert (target / "cfg.json").read_text() == "{}"

    with pytest.raises(RuntimeError), atomic_dir(target) as part:
        (part / "cfg.json").write_text('{"half": ')
        raise RuntimeError("killed half-way")
    assert (target / "cfg.json").read_text() == "{}"  # the finished folder is untouched

    with atomic_dir(target) as part:
        (part / "weights.bin").write_bytes(b"1")
    assert sorted(p.name for p in target.iterdir()) == ["weights.bin"]  # replaced as a whole
    _no_leftovers(tmp_path)


def test_findings_and_samples_are_written_whole(tmp_path: Path) -> None:
    f = Finding("s", "m", 0.5, 0.1, 0.9, 12, "chance", 0.0, "recognition", "model")
    write_findings([f], tmp_path / "findings.json")
    assert [g.value for g in read_findings(tmp_path / "findings.json")] == [0.5]
    assert write_jsonl([{"a": 1}], tmp_path / "samples.jsonl") == 1
    assert write_jsonl([{"a": 2}, {"a": 3}], tmp_path / "samples.jsonl") == 2
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert [json.loads(line)["a"] for line in lines] == [1, 2, 3]
    _no_leftovers(tmp_path)


def test_disk_full_is_found_behind_other_errors() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("while saving") from exc
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    line = str(stopped_by_full_disk(OSError(errno.ENOSPC, "No space left on device"), "platform run x resume=1"))
    assert line == (
        "disk full (No space left on device); the finished studies are kept; free some space, then continue with: "
        "platform run x resume=1"
    )
