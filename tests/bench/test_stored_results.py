"""Every committed result under ``benchmarks/results`` still loads as the configuration it was made with.

The results store refuses a result whose configuration differs from the current run spec's (and a
manifest whose hashes differ), so a change in how a schedule is stored — a config name that moved
with its module, a renamed parameter — would strand every committed result. These tests read them
all: every schedule config found in any JSON rebuilds to itself; every result's ``RunSpec`` rebuilds;
every manifest's hashes are what the experiment's specs hash to today, and the store accepts each
result file as it is.

``LRKIT_TEST_RESULTS`` points the tests at another results folder (e.g. one a running bench writes to).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from lrkit.bench import get_experiment
from lrkit.bench.spec import RunSpec
from lrkit.bench.store import RESULT_FORMAT, canonical, check_manifest, stored
from lrkit.schedules import from_config
from lrkit.utils import read_json

RESULTS = Path(os.environ.get("LRKIT_TEST_RESULTS") or Path(__file__).resolve().parents[2] / "benchmarks" / "results")
MANIFESTS = sorted(RESULTS.rglob("manifest.json"))


@lru_cache(maxsize=1)
def documents() -> dict[Path, Any]:
    """Every JSON file under benchmarks/results (gzipped ones too), parsed."""
    return {p: read_json(p) for p in sorted([*RESULTS.rglob("*.json"), *RESULTS.rglob("*.json.gz")])}


def schedule_configs(doc: Any) -> Iterator[dict[str, Any]]:
    """Every schedule config in ``doc``: a dict with a ``"name"`` under a ``"schedule"`` or ``"momentum"`` key."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("schedule", "momentum") and isinstance(value, dict) and "name" in value:
                yield value
            else:
                yield from schedule_configs(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from schedule_configs(value)


def test_there_are_committed_results():
    assert len(documents()) > 100 and MANIFESTS


def test_every_stored_schedule_config_rebuilds_to_itself():
    seen = 0
    for path, doc in documents().items():
        for config in schedule_configs(doc):
            assert canonical(from_config(config).to_config()) == canonical(config), path
            seen += 1
    assert seen > 100


def test_every_result_rebuilds_its_run_spec():
    results = [(p, d) for p, d in documents().items() if isinstance(d, dict) and d.get("format") == RESULT_FORMAT]
    assert len(results) > 100
    for path, doc in results:
        spec = RunSpec(**doc["config"])
        assert canonical(spec.to_dict()) == canonical(doc["config"]), path
        assert canonical(spec.build_schedule().to_config()) == canonical(doc["config"]["schedule"]), path


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.parent.relative_to(RESULTS)))
def test_manifest_and_results_match_the_experiments_specs(manifest):
    doc = json.loads(manifest.read_text())
    experiment, scale = doc["experiment"], doc["scale"]
    specs = {r.name: r for r in get_experiment(experiment).runs(scale)}
    common = sorted(set(specs) & set(doc["runs"]))
    assert common, f"{manifest}: none of its runs is a run of {experiment}/{scale} today"
    for name in common:
        assert specs[name].config_hash() == doc["runs"][name], f"{experiment}/{scale}/{name}: the spec changed"
    check_manifest(manifest.parent, experiment, scale, list(specs.values()))
    for path in sorted([*manifest.parent.glob("*-seed*.json"), *manifest.parent.glob("*-seed*.json.gz")]):
        run = path.name.rsplit("-seed", 1)[0]
        if run in specs:
            assert stored(path.with_name(path.name.removesuffix(".gz")), specs[run].to_dict()) is not None


def test_prepare_caches_match_what_their_experiments_compute():
    """An experiment's ``prepare`` caches work in the results folder — range tests, a pre-trained backbone —
    reused only under the config it was made with: each stored config is what the code computes today."""
    from lrkit.bench.experiments import discriminative as D
    from lrkit.bench.experiments import onecycle as O

    checked = 0
    for path in sorted(RESULTS.glob("onecycle/*/range-test-*.json")):
        doc = json.loads(path.read_text())
        specs = {r.name: r for r in get_experiment("onecycle").runs(path.parent.name)}
        spec = specs[path.stem.removeprefix("range-test-")]
        assert canonical(O.range_test_config(spec, doc["config"]["data"])) == doc["config"], path
        checked += 1
    for folder in sorted(RESULTS.glob("discriminative/*")):
        scale = folder.name
        backbone = folder / f"{D.BACKBONE_FILE}.json"
        if backbone.exists():
            doc = json.loads(backbone.read_text())
            assert canonical(D.backbone_config(scale, doc["config"]["data"])) == doc["config"], backbone
            checked += 1
        for spec in get_experiment("discriminative").runs(scale):
            path = folder / f"{D.LRS_PREFIX}{D.lr_key(spec.name)}.json"
            if not path.exists() or spec.extra["backbone"] == "imagenet":
                continue
            doc = json.loads(path.read_text())
            source = doc["config"]["data"]
            identity = D.SCRATCH if spec.extra["backbone"] == "none" else D.backbone_config(scale, source)
            assert canonical(D.lr_config(spec, identity, source)) == doc["config"], path
            checked += 1
    assert checked >= 5
