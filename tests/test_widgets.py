"""Every slider of every explorer is wired: setting ``widget.value`` recomputes data and figure;
``update(**values)`` works headless."""

from __future__ import annotations

import json
import sys

import ipywidgets as W
import numpy as np
import pytest

from lrkit.nbtools import Recorder
from lrkit.suggest import RangeTest
from lrkit.utils import jsonable, loads
from lrkit.widgets import (
    CyclicExplorer,
    DiscriminativeExplorer,
    GradientDescentExplorer,
    OneCycleExplorer,
    RangeTestExplorer,
    SGDRExplorer,
)


def _range_test() -> RangeTest:
    lrs = np.logspace(-5, 0, 80)
    rng = np.random.default_rng(0)
    loss = 2.3 - 0.5 * np.tanh(np.log10(lrs) + 3) + np.where(lrs > 0.3, (lrs - 0.3) * 20, 0) \
        + rng.normal(0, 0.05, 80)
    return RangeTest(sweep_lr=lrs, loss=loss)


def _discriminative():
    from lrkit.discriminative import layer_groups
    from lrkit.models import get_model

    return layer_groups(get_model("fastnet"))


FACTORIES = {
    "gd": GradientDescentExplorer,
    "gd_2d": lambda: GradientDescentExplorer(surface="ill_conditioned", lr=0.05),
    "range": lambda: RangeTestExplorer(_range_test(), n_boot=20),
    "cyclic": CyclicExplorer,
    "sgdr": SGDRExplorer,
    "one_cycle": OneCycleExplorer,
    "discriminative": lambda: DiscriminativeExplorer(_discriminative(), apply=True),
}


def _fingerprint(res) -> str:
    data = {k: v for k, v in res["data"].items() if k != "table"}
    return json.dumps(jsonable(data), sort_keys=True)


def _new_value(w):
    """A different valid value for widget ``w``."""
    if isinstance(w, W.Checkbox):
        return not w.value
    if isinstance(w, W.Dropdown):
        opts = [o if not isinstance(o, tuple) else o[1] for o in w.options]
        return next(o for o in opts if o != w.value)
    if isinstance(w, W.FloatLogSlider):
        lo, hi = w.base ** w.min, w.base ** w.max
        target = w.value * 1.7 if w.value * 1.7 < hi else w.value / 1.7
        return float(np.clip(target, lo, hi))
    span = w.max - w.min
    target = w.value + span * 0.3
    if target > w.max:
        target = w.value - span * 0.3
    if isinstance(w, W.IntSlider):
        target = int(round(target / w.step) * w.step)
    return target


@pytest.mark.parametrize("name", list(FACTORIES))
def test_every_widget_is_wired(name):
    ex = FACTORIES[name]()
    assert ex.widgets, "an explorer needs controls"
    for key, w in ex.widgets.items():
        # make the control matter: widgets that act only in some mode get that mode first
        if name.startswith("gd") and key == "y0":
            ex.widgets["surface"].value = "ill_conditioned"
        if name == "cyclic" and key == "gamma":
            ex.widgets["mode"].value = "exp_range"
        if name == "discriminative" and key == "factor":
            ex.widgets["rule"].value = "ulmfit"
        if name == "discriminative" and key == "lo":
            ex.widgets["rule"].value = "spread"
        if name == "one_cycle" and key == "three_phase":
            ex.widgets["pct_start"].value = 0.3
        before_n, before = ex.updates, _fingerprint(ex.last)
        fig_before = ex.last["figure"]
        w.value = _new_value(w)
        assert ex.updates == before_n + 1, f"{name}.{key}: changing the value did not recompute"
        assert _fingerprint(ex.last) != before, f"{name}.{key}: the data did not change"
        assert ex.last["figure"] is not fig_before, f"{name}.{key}: the figure was not redrawn"


@pytest.mark.parametrize("name", list(FACTORIES))
def test_update_is_headless_and_pure(name):
    ex = FACTORIES[name]()
    values = dict(ex.values)
    res = ex.update()
    assert set(res) == {"data", "figure"}
    assert res["figure"] is not None and res["figure"].axes
    assert ex.values == values, "update() must not move the sliders"
    with pytest.raises(ValueError, match="unknown control"):
        ex.update(no_such_control=1)


def test_display_renders_into_output():
    ex = CyclicExplorer()
    ex.display()
    n = len(ex.output.outputs)
    assert n >= 1
    ex.widgets["max_lr"].value = 0.01
    assert "max_lr=0.01" in ex.output.outputs[-1].get("text", "")


def test_gd_explorer_values():
    ex = GradientDescentExplorer(surface="quadratic", lr=0.5, steps=10, start=(4.0,))
    d = ex.last["data"]
    assert d["verdict"] == "good" and d["table"][0]["new_w"] == pytest.approx(2.0)
    ex.widgets["lr"].value = 2.2
    assert ex.last["data"]["verdict"] == "divergent"


def test_range_explorer_matches_result():
    r = _range_test()
    ex = RangeTestExplorer(r, n_boot=20)
    d = ex.update(smoothing=r.smoothing, skip_start=len(r) // 10, skip_end=0)["data"]
    assert d["suggestions"]["valley"] == pytest.approx(r.suggest("valley").lr)
    assert d["suggestions"]["steepest"] == pytest.approx(r.suggest("steepest").lr)


def test_schedule_explorers_match_schedules():
    from lrkit.schedules import Cyclic, OneCycle

    d = CyclicExplorer(base_lr=0.001, max_lr=0.006, step_size=100, total_steps=400).last["data"]
    np.testing.assert_allclose(d["lr"], Cyclic(0.001, 0.006, 100)(np.arange(400)))
    d = OneCycleExplorer(max_lr=0.1, total_steps=200).last["data"]
    np.testing.assert_allclose(d["lr"], OneCycle(0.1, 200)(np.arange(200)))
    assert d["momentum"] is not None and d["momentum"].min() < d["momentum"].max()
    s = SGDRExplorer(T_0=10, T_mult=2, total_steps=150).last["data"]["stats"]
    assert s["restarts"] == [10, 30, 70]


def test_discriminative_explorer_freezes_groups():
    groups = _discriminative()
    ex = DiscriminativeExplorer(groups, apply=True)
    ex.widgets["frozen"].value = 2
    assert groups.frozen_to == 2
    assert ex.last["data"]["trainable"] == [False, False] + [True] * (len(groups) - 2)
    ex.widgets["frozen"].value = 0
    assert groups.frozen_to == 0 and all(groups.trainable())


def test_recorder_writes_json(tmp_path):
    p = tmp_path / "sub" / "r.json"
    rec = Recorder(p, notebook="x", smoke=True)
    rec("a", np.float32(1.5))
    rec("b", {"x": np.arange(3), "nan": float("nan")})
    got = json.loads(p.read_text())  # strict JSON; lrkit's one convention tags non-finite floats
    assert got == {"meta": {"notebook": "x", "smoke": True, "python_prefix": sys.prefix}, "a": 1.5,
                   "b": {"x": [0, 1, 2], "nan": {"__float__": "nan"}}}
    assert np.isnan(loads(p.read_text())["b"]["nan"])
    assert Recorder(None)("c", 1) == 1
