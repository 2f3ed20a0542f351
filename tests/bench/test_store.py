"""The results store: a large record is written gzipped and read back transparently."""

from __future__ import annotations

import pytest

from lrkit.bench import store


def test_large_records_are_gzipped_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "GZIP_ABOVE", 100)
    store.cached(tmp_path / "a.json", {"k": 1}, lambda: {"x": 1})
    big = store.cached(tmp_path / "b.json", {"k": 2}, lambda: {"x": list(range(100))})
    assert (tmp_path / "a.json").exists() and (tmp_path / "b.json.gz").exists()
    assert not (tmp_path / "b.json").exists()
    assert store.cached(tmp_path / "b.json", {"k": 2}, lambda: 1 / 0) == big  # stored: not recomputed
    assert store.on_disk(tmp_path / "b.json") == tmp_path / "b.json.gz"
    assert store.on_disk(tmp_path / "c.json") is None
    with pytest.raises(store.BenchError, match="another configuration"):
        store.cached(tmp_path / "b.json", {"k": 3}, lambda: {})


def test_a_gzipped_record_is_byte_for_byte_reproducible(tmp_path):
    text = "[" + ", ".join(str(i) for i in range(300_000)) + "]"
    a = store.write_record(tmp_path / "a.json", text).read_bytes()
    b = store.write_record(tmp_path / "b.json", text).read_bytes()
    assert a == b  # no timestamp in the gzip header
