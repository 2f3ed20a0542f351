"""Layer groups: a model's parameters split into ordered groups (input → output), per-group LRs,
and freezing — the building blocks of discriminative fine-tuning (:mod:`lrkit.finetune`).

- :func:`layer_groups` ``(model)`` — lrkit's presets (Caffe net, CIFAR ResNets, FastNet, torchvision
  ResNets); ``(model, ["layer2", "layer3", "fc"])`` — named boundaries; ``(model, {"stem": [...], ...})``
  — explicit groups; :func:`split_by_depth` ``(model, n)`` — ``n`` contiguous groups by depth.
- :meth:`LayerGroups.param_groups` — one LR per group (:func:`~lrkit.finetune.lrs.discriminative_lrs`).
- :meth:`LayerGroups.freeze_to` / :meth:`~LayerGroups.freeze` / :meth:`~LayerGroups.unfreeze` —
  fastai's semantics. The full story, with the normalisation-layer rules, is in
  :mod:`lrkit.finetune`'s docstring.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from ..utils import check_type
from .lrs import discriminative_lrs

__all__ = ["LayerGroups", "NORM_TYPES", "layer_groups", "preset_groups", "split_by_depth"]

#: Normalisation layers kept trainable in frozen groups when ``train_bn=True``.
NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.LayerNorm, nn.GroupNorm,
)
_STAT_TYPES: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._NormBase,)


def _keep_eval_pre_hook(module: nn.Module, args: Any) -> None:
    """Forward pre-hook of a frozen normalisation layer: run the forward in eval mode."""
    if module.training:
        module.training = False


def _has_running_stats(m: nn.Module) -> bool:
    return isinstance(m, _STAT_TYPES) and getattr(m, "track_running_stats", False)


# --------------------------------------------------------------------------------------------------
# LayerGroups
# --------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class LayerGroups:
    """Layer groups of a model, ordered from input to output.

    Attributes:
        names: one name per group.
        params: the parameters of each group (every parameter of the model in exactly one group,
            in registration order).
        modules: the modules each group was built from (for a preset / explicit spec the named
            modules; for boundaries and :func:`split_by_depth` the modules owning its parameters).
        param_names: the qualified parameter names of each group.
        model: the model (for BatchNorm handling and the model's train/eval mode).
    """

    names: list[str]
    params: list[list[nn.Parameter]]
    modules: list[list[nn.Module]]
    param_names: list[list[str]]
    model: nn.Module
    frozen_to: int = field(default=0, init=False)
    _eval_hooks: dict[int, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not (len(self.names) == len(self.params) == len(self.modules) == len(self.param_names)):
            raise ValueError("names, params, modules and param_names must have one entry per group")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"group names must be distinct, got {self.names}")

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[list[nn.Parameter]]:
        return iter(self.params)

    def __repr__(self) -> str:
        sizes = [sum(p.numel() for p in ps) for ps in self.params]
        body = ", ".join(f"{n}: {s:,}" for n, s in zip(self.names, sizes, strict=True))
        return f"LayerGroups({body}; frozen_to={self.frozen_to})"

    def sizes(self) -> list[int]:
        """Number of parameter elements in each group."""
        return [sum(p.numel() for p in ps) for ps in self.params]

    # ----------------------------------------------------------------------------- param groups
    def param_groups(self, lr: Any, *, factor: float | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        """Param groups for a torch optimizer, one per layer group, with discriminative LRs.

        ``lr`` and ``factor``: see :func:`~lrkit.finetune.lrs.discriminative_lrs`. Every other keyword (e.g.
        ``weight_decay=5e-4``, ``momentum=0.9``) is put in every group; a *list* value gives one value
        per group (a tuple, e.g. Adam's ``betas``, is passed as is). Each dict holds ``params``,
        ``lr``, ``name`` and those keywords.
        """
        lrs = discriminative_lrs(len(self), lr, factor=factor)
        out = []
        for k, (name, ps) in enumerate(zip(self.names, self.params, strict=True)):
            g: dict[str, Any] = {"params": list(ps), "lr": lrs[k], "name": name}
            for key, v in kwargs.items():
                if isinstance(v, list):
                    if len(v) != len(self):
                        raise ValueError(f"{key} has {len(v)} values for {len(self)} groups")
                    g[key] = v[k]
                else:
                    g[key] = v
            out.append(g)
        return out

    # ----------------------------------------------------------------------------- freezing
    def _check_k(self, k: int) -> int:
        n = len(self)
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise ValueError(f"k must be an int, got {k!r}")
        if not -n <= k <= n:
            raise ValueError(f"k={k} is beyond the {n} layer groups (allowed: -{n} … {n})")
        return int(k) % n if k < 0 else int(k)

    def freeze_to(self, k: int, *, train_bn: bool = True, update_bn_stats: bool | None = None) -> None:
        """Freeze groups ``0 … k-1`` and unfreeze groups ``k …`` (fastai's ``freeze_to``).

        ``k`` may be negative (``-1``: only the last group trains); ``k == len(groups)`` freezes
        everything. ``train_bn``: keep normalisation-layer parameters of frozen groups trainable
        (fastai's default). ``update_bn_stats`` (default ``train_bn``): whether frozen BatchNorm
        layers keep updating their running statistics; if not they are held in eval mode (see the
        module docstring). Raises ``ValueError`` naming ``k`` if ``|k| > len(groups)``.
        """
        k = self._check_k(k)
        if update_bn_stats is None:
            update_bn_stats = train_bn
        for i, mods in enumerate(self._owner_modules()):
            frozen = i < k
            for m, own in mods:
                is_norm = isinstance(m, NORM_TYPES)
                for p in own:
                    p.requires_grad_(not frozen or (is_norm and train_bn))
                if frozen and not update_bn_stats and _has_running_stats(m):
                    self._hold_eval(m)
                else:
                    self._release(m)
        self.frozen_to = k

    def freeze(self, *, train_bn: bool = True, update_bn_stats: bool | None = None) -> None:
        """Train only the last group (``freeze_to(-1)``)."""
        self.freeze_to(-1, train_bn=train_bn, update_bn_stats=update_bn_stats)

    def unfreeze(self) -> None:
        """Train every group (``freeze_to(0)``)."""
        self.freeze_to(0)

    def trainable(self) -> list[bool]:
        """Per group: does any of its parameters require a gradient?"""
        return [any(p.requires_grad for p in ps) for ps in self.params]

    def _owner_modules(self) -> list[list[tuple[nn.Module, list[nn.Parameter]]]]:
        """Per group, the (module, its own direct parameters of the group) pairs, plus every
        parameter-free module with running statistics under the group's modules."""
        ids = [{id(p) for p in ps} for ps in self.params]
        out: list[list[tuple[nn.Module, list[nn.Parameter]]]] = [[] for _ in self.params]
        for m in self.model.modules():
            own = list(m.parameters(recurse=False))
            for i, s in enumerate(ids):
                mine = [p for p in own if id(p) in s]
                if mine:
                    out[i].append((m, mine))
        # stat-only modules (BatchNorm with affine=False) belong to the group of their named module
        for i, mods in enumerate(self.modules):
            seen = {id(m) for m, _ in out[i]}
            for top in mods:
                for m in top.modules():
                    if _has_running_stats(m) and id(m) not in seen and not any(m.parameters(False)):
                        out[i].append((m, []))
                        seen.add(id(m))
        return out

    def _hold_eval(self, m: nn.Module) -> None:
        if id(m) not in self._eval_hooks:
            self._eval_hooks[id(m)] = (m, m.register_forward_pre_hook(_keep_eval_pre_hook))
        m.training = False

    def _release(self, m: nn.Module) -> None:
        entry = self._eval_hooks.pop(id(m), None)
        if entry is not None:
            entry[1].remove()
            m.training = self.model.training


# --------------------------------------------------------------------------------------------------
# Building groups
# --------------------------------------------------------------------------------------------------
def _module(model: nn.Module, name: str, arg: str) -> nn.Module:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{arg}: module names must be non-empty strings, got {name!r}")
    try:
        return model.get_submodule(name)
    except AttributeError:
        top = [n for n, _ in model.named_children()]
        raise ValueError(f"{arg}: the model has no module {name!r} (its top-level modules: {top})") from None


def _param_index(model: nn.Module) -> tuple[list[str], list[nn.Parameter], dict[int, int]]:
    names, params = [], []
    for n, p in model.named_parameters():
        names.append(n)
        params.append(p)
    if not params:
        raise ValueError("model has no parameters")
    return names, params, {id(p): i for i, p in enumerate(params)}


def _build(model: nn.Module, names: list[str], index_sets: list[list[int]], modules: list[list[nn.Module]]
           ) -> LayerGroups:
    pnames, params, _ = _param_index(model)
    return LayerGroups(
        names=list(names),
        params=[[params[i] for i in idx] for idx in index_sets],
        modules=modules,
        param_names=[[pnames[i] for i in idx] for idx in index_sets],
        model=model,
    )


def _explicit(model: nn.Module, spec: Mapping[str, Sequence[str] | str] | Sequence[Sequence[str]]
              ) -> LayerGroups:
    arg = "spec"
    if isinstance(spec, Mapping):
        items = [(str(k), [v] if isinstance(v, str) else list(v)) for k, v in spec.items()]
    else:
        items = [("+".join(v) if not isinstance(v, str) else v, [v] if isinstance(v, str) else list(v))
                 for v in spec]
    if not items:
        raise ValueError(f"{arg} names no group")
    pnames, params, where = _param_index(model)
    owner: dict[int, str] = {}
    index_sets, modules = [], []
    for gname, mnames in items:
        if not mnames:
            raise ValueError(f"{arg}: group {gname!r} names no module")
        mods, idx = [], []
        for mn in mnames:
            m = _module(model, mn, arg)
            mods.append(m)
            for p in m.parameters():
                i = where[id(p)]
                if i in owner and owner[i] != gname:
                    raise ValueError(f"{arg}: groups overlap: parameter {pnames[i]!r} is in group "
                                     f"{owner[i]!r} and in group {gname!r}")
                if i not in owner:
                    owner[i] = gname
                    idx.append(i)
        if not idx:
            raise ValueError(f"{arg}: group {gname!r} ({mnames}) has no parameters")
        index_sets.append(sorted(idx))
        modules.append(mods)
    missing = [pnames[i] for i in range(len(params)) if i not in owner]
    if missing:
        shown = missing if len(missing) <= 20 else [*missing[:20], "…"]
        raise ValueError(f"{arg}: {len(missing)} parameter(s) are in no group: {shown}")
    return _build(model, [n for n, _ in items], index_sets, modules)


def _owners_by_param(model: nn.Module) -> list[nn.Module]:
    """For each parameter (registration order), the module that registered it directly."""
    _, params, where = _param_index(model)
    owners: list[nn.Module | None] = [None] * len(params)
    for m in model.modules():
        for p in m.parameters(recurse=False):
            i = where[id(p)]
            if owners[i] is None:
                owners[i] = m
    return owners  # type: ignore[return-value]


def _groups_from_cuts(model: nn.Module, names: list[str], cuts: list[int]) -> LayerGroups:
    """Contiguous groups of the parameter list: group k = params[cuts[k]:cuts[k+1]]."""
    _, params, _ = _param_index(model)
    owners = _owners_by_param(model)
    bounds = list(cuts) + [len(params)]
    index_sets, modules = [], []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        idx = list(range(a, b))
        index_sets.append(idx)
        mods: list[nn.Module] = []
        for i in idx:
            if not any(owners[i] is m for m in mods):
                mods.append(owners[i])
        modules.append(mods)
    return _build(model, names, index_sets, modules)


def _boundaries(model: nn.Module, boundaries: Sequence[str]) -> LayerGroups:
    arg = "boundaries"
    if not boundaries:
        raise ValueError(f"{arg} must name at least one module")
    if len(set(boundaries)) != len(boundaries):
        raise ValueError(f"{arg} name a module twice: {list(boundaries)}")
    pnames, params, where = _param_index(model)
    starts = []
    for name in boundaries:
        m = _module(model, name, arg)
        first = [where[id(p)] for p in m.parameters()]
        if not first:
            raise ValueError(f"{arg}: module {name!r} has no parameters, so no group can start there")
        starts.append(min(first))
    for (a, sa), (b, sb) in zip(zip(boundaries, starts, strict=True),
                                    zip(boundaries[1:], starts[1:], strict=True), strict=False):
        if sb <= sa:
            raise ValueError(f"{arg}: {b!r} does not come after {a!r} in registration order "
                             "(or the two overlap); list boundaries from input to output")
    names = list(boundaries)
    if starts[0] > 0:
        names = ["start", *names]
        starts = [0, *starts]
    return _groups_from_cuts(model, names, starts)


GroupSpec = Sequence[str] | Mapping[str, Sequence[str] | str] | Sequence[Sequence[str]]


def layer_groups(model: nn.Module, spec: GroupSpec | None = None) -> LayerGroups:
    """Layer groups of ``model``, ordered from input to output.

    Args:
        spec:
            - ``None``: lrkit's preset for the model (:func:`preset_groups`).
            - a list of module names (``["layer2", "layer3", "fc"]``): *boundaries* — a new group
              starts at the first parameter of each named module, in registration order
              (``model.named_parameters()``); parameters before the first boundary form a leading
              group ``"start"``. Names are dotted paths (``"layer3.1"``).
            - a dict ``{group name: [module names]}`` (or a list of lists of module names): explicit
              groups, listed from input to output; every parameter must be in exactly one group.

    Raises:
        ValueError (naming ``spec`` or ``boundaries``): a module that does not exist or has no
        parameters, boundaries out of order, overlapping groups, parameters in no group (named).
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    if spec is None:
        return preset_groups(model)
    if isinstance(spec, str):
        raise ValueError(f"spec must be a list of module names or a dict of groups, got the string {spec!r}")
    if isinstance(spec, Mapping) or (len(spec) and not isinstance(spec[0], str)):
        return _explicit(model, spec)
    return _boundaries(model, list(spec))


def split_by_depth(model: nn.Module, n: int, *, by: str = "params") -> LayerGroups:
    """``n`` contiguous layer groups by depth (registration order), from input to output.

    ``by="params"``: the parameter-owning modules, in registration order, are cut into ``n`` runs
    whose parameter counts are as close as possible to ``total / n`` each (greedy: cut ``k`` is put
    at the module boundary nearest to ``k · total / n``; a module's parameters are never split, and
    every group gets at least one module). Because late layers are usually wider, the first groups
    then hold more layers than the last ones.

    ``by="children"``: the top-level children that have parameters are cut into ``n`` runs of
    (nearly) equal *numbers of children* (the first runs get the extra ones); parameters registered
    directly on ``model`` join the group of the next child.

    Groups are named ``"group0" …``.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if by not in ("params", "children"):
        raise ValueError(f"by must be 'params' or 'children', got {by!r}")
    _, params, where = _param_index(model)
    if by == "children":
        starts = []
        for _, child in model.named_children():
            idx = [where[id(p)] for p in child.parameters()]
            if idx and (not starts or min(idx) > starts[-1]):
                starts.append(min(idx))
        if n > len(starts):
            raise ValueError(f"n={n} is more than the model's {len(starts)} top-level children "
                             "with parameters")
        chunks = np.array_split(np.arange(len(starts)), n)
        cuts = [0] + [starts[c[0]] for c in chunks[1:]]
        return _groups_from_cuts(model, [f"group{i}" for i in range(n)], cuts)
    owners = _owners_by_param(model)
    # units: runs of consecutive params with the same owner module
    unit_start, unit_size = [], []
    for i, p in enumerate(params):
        if i == 0 or owners[i] is not owners[i - 1]:
            unit_start.append(i)
            unit_size.append(0)
        unit_size[-1] += p.numel()
    u = len(unit_start)
    if n > u:
        raise ValueError(f"n={n} is more than the model's {u} parameter-owning modules")
    cum = np.concatenate([[0], np.cumsum(unit_size)]).astype(np.float64)  # cum[j]: size before unit j
    total = cum[-1]
    cut_units = [0]
    for k in range(1, n):
        target = k * total / n
        lo, hi = cut_units[-1] + 1, u - (n - k)  # leave one unit per later group
        j = int(np.clip(np.argmin(np.abs(cum[:u] - target)), lo, hi))
        cut_units.append(j)
    return _groups_from_cuts(model, [f"group{i}" for i in range(n)], [unit_start[j] for j in cut_units])


def preset_groups(model: nn.Module) -> LayerGroups:
    """lrkit's layer groups for its models and torchvision ResNets:

    ============================  =====================================================
    ``caffe_cifar10_full``        conv1 / conv2 / conv3 / fc
    ``resnet20``, ``resnet56``    stem (conv1 + bn1) / layer1 / layer2 / layer3 / fc
    ``fastnet``                   stem / block1 / block2 / block3 / head
    torchvision ``ResNet``        stem (conv1 + bn1) / layer1 / … / layer4 / head (fc)
    ============================  =====================================================
    """
    from .. import models as M

    if isinstance(model, M.CaffeCifar10Full):
        spec: dict[str, list[str]] = {k: [k] for k in ("conv1", "conv2", "conv3", "fc")}
    elif isinstance(model, M.CifarResNet):
        spec = {"stem": ["conv1", "bn1"], "layer1": ["layer1"], "layer2": ["layer2"],
                "layer3": ["layer3"], "fc": ["fc"]}
    elif isinstance(model, M.FastNet):
        spec = {k: [k] for k in ("stem", "block1", "block2", "block3", "head")}
    elif _is_torchvision_resnet(model):
        spec = {"stem": ["conv1", "bn1"], **{f"layer{i}": [f"layer{i}"] for i in range(1, 5)},
                "head": ["fc"]}
    else:
        raise ValueError(f"model: no preset layer groups for {type(model).__name__}; use "
                         "layer_groups(model, [boundary module names]) or split_by_depth(model, n)")
    return _explicit(model, spec)


def _is_torchvision_resnet(model: nn.Module) -> bool:
    try:
        from torchvision.models import ResNet
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, ResNet)
