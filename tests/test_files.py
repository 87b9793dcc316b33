"""Atomic writes: the target holds the old content or the new one, never a torn file."""

import pytest

from keraslab.files import atomic_path, atomic_write_text


def test_atomic_write_text_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "run.json"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_failed_write_keeps_the_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "last.weights.h5"
    target.write_bytes(b"old weights")
    with pytest.raises(OSError, match="disk full"), atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".weights.h5")  # Keras needs it
        tmp.write_bytes(b"half")
        raise OSError("disk full")
    assert target.read_bytes() == b"old weights"
    assert [p.name for p in tmp_path.iterdir()] == ["last.weights.h5"]
