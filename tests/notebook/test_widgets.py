"""Every slider of every explorer is wired: setting ``widget.value`` recomputes data and figure;
``update(**values)`` works headless."""

from __future__ import annotations

import json
import sys

import ipywidgets as W
import numpy as np
import pytest

from lrkit.notebook import (
    CyclicExplorer,
    DiscriminativeExplorer,
    GradientDescentExplorer,
    OneCycleExplorer,
    RangeTestExplorer,
    Recorder,
    SGDRExplorer,
    WSDExplorer,
)
from lrkit.notebook.controls import ExactFloat
from lrkit.rangetest import RangeTest
from lrkit.utils import jsonable, loads


def _range_test() -> RangeTest:
    lrs = np.logspace(-5, 0, 80)
    rng = np.random.default_rng(0)
    loss = 2.3 - 0.5 * np.tanh(np.log10(lrs) + 3) + np.where(lrs > 0.3, (lrs - 0.3) * 20, 0) \
        + rng.normal(0, 0.05, 80)
    return RangeTest(sweep_lr=lrs, loss=loss)


def _discriminative():
    from lrkit.finetune import layer_groups
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
    "wsd": WSDExplorer,
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
    if isinstance(w, ExactFloat) and w.is_log:
        lo, hi = 10 ** w.lo, 10 ** w.hi
        target = w.value * 1.7 if w.value * 1.7 < hi else w.value / 1.7
        return float(np.clip(target, lo, hi))
    if isinstance(w, ExactFloat):
        span = w.hi - w.lo
        return w.value + span * 0.3 if w.value + span * 0.3 <= w.hi else w.value - span * 0.3
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
        if name == "wsd" and key in ("cooldown", "cooldown_frac", "branches"):
            ex.widgets["after"].value = "wsd"
        if name == "one_cycle" and key == "three_phase":
            ex.widgets["pct_start"].value = 0.3
        assert not w.disabled, f"{name}.{key}: disabled although it matters now"
        before_n, before = ex.updates, _fingerprint(ex.last)
        fig_before, png_before = ex.last["figure"], ex.png()
        new = _new_value(w)
        w.value = new
        assert w.value == new, f"{name}.{key}: the control changed the value that was set"
        assert ex.updates == before_n + 1, f"{name}.{key}: changing the value did not recompute"
        assert _fingerprint(ex.last) != before, f"{name}.{key}: the data did not change"
        assert ex.last["figure"] is fig_before, f"{name}.{key}: a new figure instead of an in-place redraw"
        assert ex.png() != png_before, f"{name}.{key}: the figure did not change"


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


def test_display_redraws_in_place(monkeypatch):
    """display() shows one widget; a change swaps the Image's PNG and the summary in place — no
    Output is cleared, no figure is created (pyplot or otherwise), the Image widget stays the same."""
    import matplotlib.figure
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.append((a, k)))
    ex = CyclicExplorer()
    figs_before = plt.get_fignums()
    ex.display()
    assert len(shown) == 1
    bundle = shown[0][0][0]
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["image/png"]
    assert "children=" not in bundle["text/plain"]
    image, fig, png = ex.image, ex.figure, bytes(ex.image.value)
    assert png.startswith(b"\x89PNG")
    created = []
    orig = matplotlib.figure.Figure.__init__
    monkeypatch.setattr(matplotlib.figure.Figure, "__init__",
                        lambda self, *a, **k: (created.append(self), orig(self, *a, **k))[1])
    ex.widgets["max_lr"].value = 0.01
    assert "max_lr=0.01" in ex.status.value
    assert ex.image is image and ex.figure is fig and ex.last["figure"] is fig
    assert bytes(ex.image.value) != png, "the picture did not change"
    assert created == [], "a redraw created a new figure"
    assert plt.get_fignums() == figs_before, "the explorer leaked a pyplot figure"
    assert not hasattr(ex, "output"), "no Output widget to clear"


@pytest.mark.parametrize("kw,key,value", [
    ({"max_lr": 0.006}, "max_lr", 0.006), ({"base_lr": 0.001}, "base_lr", 0.001),
    ({"gamma": 0.99994, "mode": "exp_range"}, "gamma", 0.99994)])
def test_exact_values_round_trip(kw, key, value):
    """The value the code set is shown and used exactly, also after the browser's slider snaps its
    copy to the grid and sends that back (simulated here by writing the slider's value)."""
    ex = CyclicExplorer(**kw)
    w = ex.widgets[key]
    assert w.value == value and w.text.value == value
    assert ex.last["data"]["schedule"]["max_lr" if key == "max_lr" else key] == value
    w.slider.value = w.slider.value * (1 + 1e-9)  # the echo: same grid point, another float
    assert w.value == value and w.text.value == value, "the slider's echo changed the exact value"
    w.text.value = 0.0123 if w.is_log else 0.99991  # typed: exact
    assert w.value == w.text.value
    w.slider.value = w.slider.max if not w.is_log else 10 ** w.slider.max  # dragged: takes the slider's value
    assert w.value == pytest.approx(10 ** w.hi if w.is_log else w.hi)
    w.text.value = -1.0 if w.is_log else float("nan")  # refused, the old value stays
    assert w.value == w.text.value and np.isfinite(w.value) and w.value > 0


def test_exact_value_in_notebook_explorers():
    assert OneCycleExplorer(max_lr=0.05).last["data"]["schedule"]["max_lr"] == 0.05
    ex = GradientDescentExplorer(lr=0.1)
    ex.widgets["lr"].value = 1.9
    assert "lr=1.9 " in ex.summary() and ex.last["data"]["lr"] == 1.9
    ex = RangeTestExplorer(_range_test(), n_boot=5)
    ex.widgets["smoothing"].value = 0.5
    assert ex.last["data"]["smoothing"] == 0.5


def test_irrelevant_controls_are_disabled_with_a_hint():
    ex = GradientDescentExplorer(surface="quadratic")
    assert ex.widgets["y0"].disabled and "2-D" in ex.widgets["y0"].tooltip
    assert ex.widgets["y0"].slider.disabled and ex.widgets["y0"].text.disabled
    ex.widgets["surface"].value = "ill_conditioned"
    assert not ex.widgets["y0"].disabled and not ex.widgets["y0"].text.disabled
    ex = CyclicExplorer(mode="triangular")
    assert ex.widgets["gamma"].disabled and "exp_range" in ex.widgets["gamma"].tooltip
    ex.widgets["mode"].value = "exp_range"
    assert not ex.widgets["gamma"].disabled
    ex = DiscriminativeExplorer(["a", "b", "c"], rule="ulmfit")
    assert ex.widgets["lo"].disabled and not ex.widgets["factor"].disabled
    ex.widgets["rule"].value = "spread"
    assert not ex.widgets["lo"].disabled and ex.widgets["factor"].disabled
    enabled = {k for k, w in ex.widgets.items() if not w.disabled}
    assert enabled == {"rule", "lo", "hi", "frozen"}


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


def test_recorder_writes_json(tmp_path, monkeypatch):
    from lrkit.notebook import session

    monkeypatch.setattr(session, "_CURRENT", None)  # no notebook session: a blank one
    p = tmp_path / "sub" / "r.json"
    rec = Recorder(p, notebook="x", smoke=True)
    rec("a", np.float32(1.5))
    rec("b", {"x": np.arange(3), "nan": float("nan")})
    got = json.loads(p.read_text())  # strict JSON; lrkit's one convention tags non-finite floats
    run = got["meta"].pop("run")      # the notebook's session (tests/notebook/test_session.py)
    assert run["smoke"] is False and got.pop("sentences") == {}
    assert got == {"meta": {"notebook": "x", "smoke": True, "python_prefix": sys.prefix}, "a": 1.5,
                   "b": {"x": [0, 1, 2], "nan": {"__float__": "nan"}}}
    assert np.isnan(loads(p.read_text())["b"]["nan"])
    assert Recorder(None)("c", 1) == 1


@pytest.mark.parametrize("surface", ["quadratic", "ill_conditioned"])
def test_gd_in_place_path_matches_the_data(surface):
    """The in-place path update draws the trajectory of the current values (not a stale one)."""
    ex = GradientDescentExplorer(surface=surface, lr=0.05, steps=10)
    ex.widgets["lr"].value = 0.04
    ex.widgets["steps"].value = 15
    d = ex.last["data"]
    a_path, a_loss = ex.figure.axes[:2]
    lines = {ln.get_label(): ln for ln in a_path.lines}
    path = lines["w after each step" if surface == "quadratic" else "path"]
    np.testing.assert_allclose(path.get_xdata(), d["w"][:, 0])
    assert len(a_loss.lines[0].get_xdata()) == len(d["loss"]) == 16
    assert "lr = 0.04 " in a_path.get_title() and "15 steps" in a_loss.get_title()


def test_wsd_explorer_branches_are_the_schedule_s_branches():
    from lrkit.schedules import WSD

    ex = WSDExplorer(lr=0.5, total_steps=1000, warmup_frac=0.1, cooldown_frac=0.2, branches=3)
    d = ex.last["data"]
    sched = WSD(0.5, 1000, warmup_steps=100, cooldown_steps=200, cooldown="1-sqrt")
    np.testing.assert_allclose(d["lr"], sched(np.arange(1000.0)), rtol=0, atol=0)
    assert d["stats"]["branch_starts"] == [275, 450, 625] and d["stats"]["decay_start"] == 800
    for b in d["branches"]:  # each branch: the constant run up to its start, then the same cooldown
        br = sched.branch(b["start"])
        np.testing.assert_allclose(b["lr"], br(b["t"]))
        assert b["t"][0] == b["start"] and b["t"][-1] == b["start"] + 199 and b["lr"][0] == 0.5
    ex.widgets["after"].value = "cosine"
    assert ex.widgets["branches"].disabled and ex.last["data"]["branches"] == []
    ex.widgets["warmup_kind"].value = "exponential"
    lr = ex.last["data"]["lr"]
    assert lr[0] == pytest.approx(0.5e-3) and lr[100] == pytest.approx(0.5) and lr[-1] < 1e-4
