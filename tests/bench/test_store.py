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


# -------------------------------------------------------------------------------------------- manifest
class _Run:
    def __init__(self, name, h):
        self.name, self.h = name, h

    def config_hash(self):
        return self.h


def test_the_manifest_is_written_exactly_and_merges_runs(tmp_path):
    import json

    from lrkit import __version__
    from lrkit.utils import dumps

    store.write_manifest(tmp_path, "exp", "lite", [_Run("a", "h1")])
    text = (tmp_path / "manifest.json").read_text()
    want = {"format": store.MANIFEST_FORMAT, "lrkit": __version__, "experiment": "exp", "scale": "lite",
            "runs": {"a": "h1"}}
    assert text == dumps(want, indent=2) and json.loads(text) == want
    # another call adds its runs to those listed (a run of the same config is fine)
    store.check_manifest(tmp_path, "exp", "lite", [_Run("a", "h1"), _Run("b", "h2")])
    assert json.loads((tmp_path / "manifest.json").read_text())["runs"] == {"a": "h1"}  # check writes nothing
    store.write_manifest(str(tmp_path), "exp", "lite", [_Run("b", "h2")])
    assert json.loads((tmp_path / "manifest.json").read_text())["runs"] == {"a": "h1", "b": "h2"}


def test_a_manifest_that_disagrees_is_refused_with_what_differs(tmp_path):
    import json

    store.write_manifest(tmp_path, "exp", "lite", [_Run("a", "h1"), _Run("b", "h2"), _Run("c", "h3")])
    before = (tmp_path / "manifest.json").read_text()
    msg = (f"{tmp_path} holds results of another configuration for runs ['a', 'c']; "
           "use another --out (results are never overwritten silently)")
    for call in (store.check_manifest, store.write_manifest):
        with pytest.raises(store.BenchError) as e:
            call(tmp_path, "exp", "lite", [_Run("c", "x"), _Run("b", "h2"), _Run("a", "y")])
        assert str(e.value) == msg
    assert (tmp_path / "manifest.json").read_text() == before
    doc = json.loads(before)
    (tmp_path / "manifest.json").write_text(json.dumps({**doc, "lrkit": "0.0.1"}))
    with pytest.raises(store.BenchError) as e:
        store.check_manifest(tmp_path, "exp", "lite", [])
    assert str(e.value) == (f"{tmp_path} holds results of another lrkit version/format "
                            f"({store.MANIFEST_FORMAT}, lrkit 0.0.1); use another --out")
    (tmp_path / "manifest.json").write_text(json.dumps({**doc, "format": "other"}))
    with pytest.raises(store.BenchError, match=r"\(other, lrkit "):
        store.check_manifest(tmp_path, "exp", "lite", [])
    (tmp_path / "manifest.json").write_text("{ not json")
    with pytest.raises(store.BenchError, match=r"^manifest .*; move the folder away or choose another --out$"):
        store.check_manifest(tmp_path, "exp", "lite", [])


def test_results_are_loaded_in_name_order_gzipped_or_not(tmp_path, monkeypatch):
    import json

    folder = tmp_path / "exp" / "lite"
    assert store.load_results(tmp_path, "exp", "lite") == []  # no folder: nothing
    monkeypatch.setattr(store, "GZIP_ABOVE", 100)
    folder.mkdir(parents=True)
    for name in ("b-seed0", "a-seed1", "a-seed0", "c-seed0"):
        rec = {"format": store.RESULT_FORMAT, "name": name, "pad": "x" * (120 if name[0] in "ac" else 1)}
        store.write_record(folder / f"{name}.json", json.dumps(rec))
    (folder / "manifest.json").write_text("{}")  # not a result
    assert sorted(p.name for p in folder.iterdir()) == ["a-seed0.json.gz", "a-seed1.json.gz", "b-seed0.json",
                                                       "c-seed0.json.gz", "manifest.json"]
    assert [r["name"] for r in store.load_results(tmp_path, "exp", "lite")] == ["a-seed0", "a-seed1", "b-seed0",
                                                                                 "c-seed0"]
    (folder / "d-seed0.json").write_text(json.dumps({"format": "nope"}))
    with pytest.raises(store.BenchError) as e:
        store.load_results(tmp_path, "exp", "lite")
    assert str(e.value) == f"{folder / 'd-seed0.json'} is not an lrkit bench result (format 'nope')"
    (folder / "d-seed0.json").write_text("[1, 2]")
    with pytest.raises(store.BenchError) as e:
        store.load_result(folder / "d-seed0.json")
    assert str(e.value) == (f"stored result {folder / 'd-seed0.json'} is not a JSON object; move it away or "
                            "choose another --out")
    (folder / "d-seed0.json").write_text("{ not json")
    with pytest.raises(store.BenchError, match=r"^stored result .*; move it away or choose another --out$"):
        store.load_result(folder / "d-seed0.json")


def test_a_manifest_without_runs_is_merged_and_specs_hash_apart(tmp_path):
    import json

    from lrkit import __version__
    from lrkit.bench.spec import Experiment, RunSpec, scaled

    (tmp_path / "manifest.json").write_text(json.dumps({"format": store.MANIFEST_FORMAT, "lrkit": __version__}))
    store.write_manifest(tmp_path, "exp", "lite", [_Run("a", "h1")])
    assert json.loads((tmp_path / "manifest.json").read_text())["runs"] == {"a": "h1"}
    assert [scaled(0.4), scaled(2.5), scaled(3.5)] == [1, 2, 4]  # rounded (half to even), at least 1
    a = RunSpec("x", model="mlp", optimizer={"name": "sgd", "lr": 0.1}, schedule={"name": "Constant", "lr": 0.1},
                iterations=10, batch_size=8, eval_every=5)
    b = RunSpec("x", model="mlp", optimizer={"name": "sgd", "lr": 0.1}, schedule={"name": "Constant", "lr": 0.1},
                iterations=11, batch_size=8, eval_every=5)
    assert len(a.config_hash()) == 12 and a.config_hash() != b.config_hash()
    seen = []
    exp = Experiment("e", "t", "r", "d", {"lite": 0.1}, lambda scale, f: seen.append((scale, f)) or [a])
    assert exp.runs("lite") == [a] and exp.runs("paper") == [a] and seen == [("lite", 0.1), ("paper", 1.0)]
