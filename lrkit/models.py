"""Reference models for CIFAR-10.

- :func:`caffe_cifar10_full` — Caffe's ``examples/cifar10/cifar10_full_train_test.prototxt``, the net
  of Smith (2017) "Cyclical Learning Rates", layer for layer, with its initialisation, ceil-mode
  pooling, within-channel LRN and per-parameter LR / weight-decay multipliers.
- :func:`resnet20`, :func:`resnet56` — He et al. (2016) §4.2 CIFAR ResNets (option A shortcuts).
- :func:`fastnet` — a small modern net (≈0.3 M parameters, BatchNorm + GELU) for time-to-accuracy runs.
- :class:`AirNet` — the fast-recipe net (:mod:`lrkit.recipe`): a frozen patch-whitening first conv
  (:func:`whitening_init`), three conv-BN-GELU blocks with max-pool, a scaled linear head.
- :func:`torchvision_resnet` — a torchvision ResNet fitted to 32×32 inputs and ``num_classes``.

:func:`get_model` builds any of them by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AirNet",
    "CaffeLRN",
    "MODELS",
    "caffe_cifar10_full",
    "count_parameters",
    "fastnet",
    "get_model",
    "mlp",
    "multiplier_param_groups",
    "resnet20",
    "resnet56",
    "torchvision_resnet",
    "whitening_init",
    "wide_resnet",
]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------------
# Smith 2017's Caffe net
# --------------------------------------------------------------------------------------------------
class CaffeLRN(nn.Module):
    r"""Caffe's LRN with ``norm_region: WITHIN_CHANNEL``.

    .. math:: y = x\,\Bigl(1 + \frac{\alpha}{n^2}\sum_{(i,j)\in W} x_{ij}^2\Bigr)^{-\beta}

    where :math:`W` is the :math:`n\times n` spatial window (zero-padded by :math:`(n-1)/2`) around
    each position *of the same channel*. PyTorch's ``LocalResponseNorm`` normalises *across*
    channels (Caffe's ``ACROSS_CHANNELS``), which is a different layer.
    """

    def __init__(self, size: int = 3, alpha: float = 5e-5, beta: float = 0.75):
        super().__init__()
        if size < 1 or size % 2 == 0:
            raise ValueError(f"size must be a positive odd int, got {size}")
        self.size, self.alpha, self.beta = size, alpha, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # average of x² over the padded window, divisor n² everywhere (Caffe's AVE pool with pad)
        mean_sq = F.avg_pool2d(x * x, self.size, stride=1, padding=self.size // 2, count_include_pad=True)
        return x * (1 + self.alpha * mean_sq).pow(-self.beta)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, region=WITHIN_CHANNEL"


class CaffeCifar10Full(nn.Module):
    """See :func:`caffe_cifar10_full`."""

    # (lr_mult, decay_mult) per parameter, from the prototxt's ``param { }`` blocks
    caffe_multipliers = {
        "conv1.weight": (1.0, 1.0), "conv1.bias": (2.0, 1.0),
        "conv2.weight": (1.0, 1.0), "conv2.bias": (2.0, 1.0),
        "conv3.weight": (1.0, 1.0), "conv3.bias": (1.0, 1.0),
        "fc.weight": (1.0, 250.0), "fc.bias": (2.0, 0.0),
    }

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.norm1 = CaffeLRN(3, 5e-5, 0.75)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.norm2 = CaffeLRN(3, 5e-5, 0.75)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc = nn.Linear(64 * 4 * 4, num_classes)
        for m, std in ((self.conv1, 1e-4), (self.conv2, 1e-2), (self.conv3, 1e-2), (self.fc, 1e-2)):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(F.relu(F.max_pool2d(self.conv1(x), 3, 2, ceil_mode=True)))
        x = self.norm2(F.avg_pool2d(F.relu(self.conv2(x)), 3, 2, ceil_mode=True))
        x = F.avg_pool2d(F.relu(self.conv3(x)), 3, 2, ceil_mode=True)
        return self.fc(torch.flatten(x, 1))


def caffe_cifar10_full(num_classes: int = 10) -> CaffeCifar10Full:
    """Caffe's CIFAR-10 "full" net (Smith 2017's model), 89,578 parameters for 10 classes.

    conv5×5-32 (pad 2, N(0, 1e-4)) → max-pool 3/2 → ReLU → LRN(3, 5e-5, 0.75, within channel) →
    conv5×5-32 (N(0, 1e-2)) → ReLU → avg-pool 3/2 → LRN → conv5×5-64 (N(0, 1e-2)) → ReLU →
    avg-pool 3/2 → fc (N(0, 1e-2)); zero biases; Caffe's ceil-mode pooling (32 → 16 → 8 → 4).
    ``model.caffe_multipliers`` holds the prototxt's per-parameter (lr_mult, decay_mult); use
    :func:`multiplier_param_groups` with :class:`lrkit.training.CaffeSGD` to reproduce Caffe's solver.
    """
    return CaffeCifar10Full(num_classes)


def multiplier_param_groups(model: nn.Module, multipliers: dict[str, tuple[float, float]] | None = None,
                            **group_kwargs) -> list[dict]:
    """Param groups carrying ``lr_mult`` / ``decay_mult`` (one group per distinct pair).

    ``multipliers`` maps parameter names to (lr_mult, decay_mult); default: the model's
    ``caffe_multipliers``; parameters it does not name get (1, 1). Unknown names raise.
    """
    multipliers = multipliers if multipliers is not None else getattr(model, "caffe_multipliers", {})
    names = dict(model.named_parameters())
    unknown = set(multipliers) - set(names)
    if unknown:
        raise ValueError(f"multipliers name parameters the model does not have: {sorted(unknown)}")
    groups: dict[tuple[float, float], list] = {}
    for name, p in names.items():
        groups.setdefault(tuple(multipliers.get(name, (1.0, 1.0))), []).append(p)
    return [{"params": ps, "lr_mult": lm, "decay_mult": dm, **group_kwargs} for (lm, dm), ps in groups.items()]


# --------------------------------------------------------------------------------------------------
# CIFAR ResNets (He et al. 2016, §4.2)
# --------------------------------------------------------------------------------------------------
class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pad = c_out - c_in
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x
        if self.stride != 1 or self.pad:
            # option A: subsample and zero-pad channels (no parameters)
            short = x[:, :, :: self.stride, :: self.stride]
            short = F.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + short)


class CifarResNet(nn.Module):
    """6n+2-layer CIFAR ResNet: 3×3 conv-16, three stages of n blocks (16/32/64), avg-pool, fc."""

    def __init__(self, n: int, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, c = [], 16
        for i, width in enumerate((16, 32, 64)):
            blocks = [_BasicBlock(c, width, 1 if i == 0 else 2)] + [_BasicBlock(width, width, 1) for _ in range(n - 1)]
            layers.append(nn.Sequential(*blocks))
            c = width
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet20(num_classes: int = 10) -> CifarResNet:
    """ResNet-20 for CIFAR (He et al. 2016): ≈0.27 M parameters."""
    return CifarResNet(3, num_classes)


def resnet56(num_classes: int = 10) -> CifarResNet:
    """ResNet-56 for CIFAR (He et al. 2016): ≈0.85 M parameters."""
    return CifarResNet(9, num_classes)


# --------------------------------------------------------------------------------------------------
# Wide ResNets (Zagoruyko & Komodakis 2016), as used by SGDR (Loshchilov & Hutter 2017)
# --------------------------------------------------------------------------------------------------
class _WideBlock(nn.Module):
    """Pre-activation basic block: BN → ReLU → conv3×3 → BN → ReLU → conv3×3, plus shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None if (c_in == c_out and stride == 1) else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        short = x if self.shortcut is None else self.shortcut(o)
        o = self.conv2(F.relu(self.bn2(self.conv1(o))))
        return o + short


class WideResNet(nn.Module):
    """WRN-d-k: conv-16, three stages of (d−4)/6 blocks with widths 16k / 32k / 64k, BN-ReLU, avg-pool, fc."""

    def __init__(self, depth: int = 16, widen: int = 2, num_classes: int = 10):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"depth must be 6n+4 with n >= 1 (10, 16, 22, 28, …), got {depth}")
        if widen < 1:
            raise ValueError(f"widen must be >= 1, got {widen}")
        n = (depth - 4) // 6
        widths = [16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        c, stages = 16, []
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(*[_WideBlock(c if j == 0 else w, w, (1 if i == 0 else 2) if j == 0 else 1)
                                          for j in range(n)]))
            c = w
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = F.relu(self.bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def wide_resnet(depth: int = 16, widen: int = 2, num_classes: int = 10) -> WideResNet:
    """A wide ResNet WRN-depth-widen (SGDR used WRN-28-10; WRN-16-2 is a CPU-sized stand-in)."""
    return WideResNet(depth, widen, num_classes)


# --------------------------------------------------------------------------------------------------
# A fast modern net
# --------------------------------------------------------------------------------------------------
def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU()]


class FastNet(nn.Module):
    """Stem conv-24, then three blocks (conv → max-pool 2 → BN → GELU → conv → BN → GELU), global
    max-pool and a linear head. Widths (32, 64, 128) ≈ 0.3 M parameters; fast on a CPU."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, int, int] = (32, 64, 128)):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 24))
        blocks, c = [], 24
        for w in widths:
            blocks.append(nn.Sequential(nn.Conv2d(c, w, 3, padding=1, bias=False), nn.MaxPool2d(2),
                                        nn.BatchNorm2d(w), nn.GELU(), *_conv_bn(w, w)))
            c = w
        self.block1, self.block2, self.block3 = blocks
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.stem(x))))
        return self.head(torch.flatten(F.adaptive_max_pool2d(x, 1), 1))


def fastnet(num_classes: int = 10) -> FastNet:
    """The fast modern net (see :class:`FastNet`)."""
    return FastNet(num_classes)


# --------------------------------------------------------------------------------------------------
# The fast-recipe net (lrkit.recipe): patch whitening, conv-BN-GELU blocks, scaled head
# --------------------------------------------------------------------------------------------------
@torch.no_grad()
def whitening_init(conv: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4, *, chunk: int = 500) -> torch.Tensor:
    r"""Initialise ``conv`` (3 → 2·3k² channels, k×k, no padding) as a patch-whitening layer.

    With :math:`\Sigma = U\,\mathrm{diag}(\lambda)\,U^\top` the covariance of all k×k patches of
    ``images`` (float ``[N,3,H,W]``, already preprocessed) and :math:`\mu` their mean, the filters are
    :math:`W = \pm\,\mathrm{diag}(\lambda + \varepsilon)^{-1/2} U^\top` (PCA whitening; the negated
    copy lets a following GELU keep both signs) and the bias :math:`-W\mu`, so each half of the
    output has covariance :math:`\mathrm{diag}(\lambda/(\lambda+\varepsilon)) \approx I` and mean 0.
    Returns the eigenvalues (ascending). The patches are gathered ``chunk`` images at a time, on the images'
    device and in their dtype; only the d-vector and d×d sums are kept in float64 (exactly what the
    patches' float64 copies would give: the float32 values convert exactly), and the d×d eigen-decomposition
    runs on the CPU (tiny, and no solver start-up on a GPU).
    """
    k = conv.kernel_size[0]
    d = conv.in_channels * k * k
    if conv.kernel_size != (k, k) or conv.out_channels != 2 * d or conv.padding not in ((0, 0), 0, "valid"):
        raise ValueError(f"conv must be {conv.in_channels}→{2 * d} channels, k×k, unpadded; got {conv}")
    if images.dim() != 4 or images.shape[1] != conv.in_channels or not images.is_floating_point():
        raise ValueError(f"images must be float [N, {conv.in_channels}, H, W], "
                         f"got {images.dtype} {tuple(images.shape)}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    s1 = torch.zeros(d, dtype=torch.float64, device=images.device)
    s2 = torch.zeros(d, d, dtype=torch.float64, device=images.device)
    n = 0
    for i in range(0, len(images), chunk):
        p = F.unfold(images[i:i + chunk], k).transpose(1, 2).reshape(-1, d).double()  # (c, kh, kw) order
        s1 += p.sum(0)
        s2 += p.T @ p
        n += p.shape[0]
    mean = (s1 / n).cpu()  # set-up, once: the eigen-decomposition of a d×d matrix belongs on the CPU
    cov = s2.cpu() / n - torch.outer(mean, mean)
    evals, evecs = torch.linalg.eigh(cov)
    w = evecs.T / (evals.clamp_min(0) + eps).sqrt().unsqueeze(1)  # [d, d]: rows are the filters
    w = torch.cat([w, -w])
    conv.weight.copy_(w.view(2 * d, conv.in_channels, k, k).to(conv.weight))
    if conv.bias is not None:
        conv.bias.copy_((-(w @ mean)).to(conv.bias))
    return evals.float()


class AirNet(nn.Module):
    """Whitening conv (k×k, 2·3k² channels, frozen unless ``whiten_trainable``) → GELU → three blocks
    (conv3×3 → max-pool 2 → BN → GELU → conv3×3 → BN → GELU) of ``widths`` → global max-pool →
    bias-free linear head whose output is multiplied by ``head_scale``.

    BatchNorm layers use ``bn_momentum`` (PyTorch's convention: the weight of the new batch) and
    ``bn_eps``; with ``bn_weight=False`` their scales stay 1 (only the shifts learn). ``dirac``
    initialises the first ``c_in`` filters of every block conv as the identity (a partial identity
    init: the net starts close to passing its input through). Call :meth:`init_whitening` with
    preprocessed training images before training (:func:`whitening_init`).
    """

    def __init__(self, widths: tuple[int, int, int] = (64, 256, 256), num_classes: int = 10, *,
                 whiten_kernel: int = 2, whiten_trainable: bool = False, bn_momentum: float = 0.4,
                 bn_eps: float = 1e-12, bn_weight: bool = False, head_scale: float = 1 / 9, dirac: bool = True):
        super().__init__()
        if len(widths) != 3 or any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"widths must be three positive ints, got {widths!r}")
        if whiten_kernel not in (2, 3):
            raise ValueError(f"whiten_kernel must be 2 or 3, got {whiten_kernel!r}")
        c = 2 * 3 * whiten_kernel ** 2
        self.whiten = nn.Conv2d(3, c, whiten_kernel, bias=True)
        self.whiten.weight.requires_grad_(whiten_trainable)
        self.head_scale = float(head_scale)

        def bn(w: int) -> nn.BatchNorm2d:
            b = nn.BatchNorm2d(w, eps=bn_eps, momentum=bn_momentum)
            b.weight.requires_grad_(bn_weight)
            return b

        blocks = []
        for w in widths:
            conv1, conv2 = nn.Conv2d(c, w, 3, padding=1, bias=False), nn.Conv2d(w, w, 3, padding=1, bias=False)
            if dirac:
                for conv, cin in ((conv1, c), (conv2, w)):
                    with torch.no_grad():
                        nn.init.dirac_(conv.weight[:min(cin, conv.out_channels)])
            blocks.append(nn.Sequential(conv1, nn.MaxPool2d(2), bn(w), nn.GELU(), conv2, bn(w), nn.GELU()))
            c = w
        self.block1, self.block2, self.block3 = blocks
        self.head = nn.Linear(c, num_classes, bias=False)

    def init_whitening(self, images: torch.Tensor, eps: float = 5e-4) -> torch.Tensor:
        """:func:`whitening_init` of the first conv from ``images``; returns the patch eigenvalues."""
        return whitening_init(self.whiten, images.to(self.whiten.weight.device), eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(F.gelu(self.whiten(x)))))
        return self.head(torch.amax(x, dim=(2, 3))) * self.head_scale


def mlp(num_classes: int = 10, hidden: tuple[int, ...] = (512, 256)) -> nn.Sequential:
    """A plain multi-layer perceptron on the flattened 3×32×32 image (ReLU, no normalisation):
    the range test on a net without BatchNorm."""
    layers: list[nn.Module] = [nn.Flatten()]
    c = 3 * 32 * 32
    for h in hidden:
        layers += [nn.Linear(c, h), nn.ReLU()]
        c = h
    return nn.Sequential(*layers, nn.Linear(c, num_classes))


# --------------------------------------------------------------------------------------------------
# torchvision adapter
# --------------------------------------------------------------------------------------------------
def torchvision_resnet(arch: str = "resnet18", num_classes: int = 10, *, weights: str | os.PathLike | None = None,
                       cifar_stem: bool = True) -> nn.Module:
    """A torchvision ResNet fitted to 32×32 inputs and ``num_classes`` outputs.

    ``weights``: a local state-dict file (e.g. ImageNet weights saved earlier), or ``"DEFAULT"`` for
    torchvision's download (needs internet; the error says so otherwise), or None (random init).
    With ``cifar_stem`` the 7×7/2 stem conv becomes a 3×3/1 conv and the max-pool is removed (the
    usual CIFAR adaptation); pretrained stem weights are then centre-cropped to 3×3. The classifier
    is replaced by a fresh ``Linear(…, num_classes)``.
    """
    import torchvision

    if not hasattr(torchvision.models, arch) or not arch.startswith("resnet"):
        raise ValueError(f"arch must name a torchvision ResNet (resnet18, resnet34, resnet50, …), got {arch!r}")
    builder = getattr(torchvision.models, arch)
    if weights == "DEFAULT":
        try:
            model = builder(weights="DEFAULT")
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"could not download ImageNet weights for {arch} (offline?): {e}. "
                               "Pass weights=<local state-dict file> instead.") from e
    else:
        model = builder(weights=None)
        if weights is not None:
            path = os.fspath(weights)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"weights file {path} does not exist")
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    if cifar_stem:
        old = model.conv1.weight.data
        model.conv1 = nn.Conv2d(3, old.shape[0], 3, 1, 1, bias=False)
        if weights is not None:
            model.conv1.weight.data.copy_(old[:, :, 2:5, 2:5])
        model.maxpool = nn.Identity()
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


MODELS: dict[str, Callable[..., nn.Module]] = {
    "caffe_cifar10_full": caffe_cifar10_full,
    "resnet20": resnet20,
    "resnet56": resnet56,
    "fastnet": fastnet,
    "mlp": mlp,
    "wrn16_2": lambda num_classes=10: wide_resnet(16, 2, num_classes),
    "wrn16_1": lambda num_classes=10: wide_resnet(16, 1, num_classes),
    "wrn28_10": lambda num_classes=10: wide_resnet(28, 10, num_classes),
    "resnet18": lambda num_classes=10: torchvision_resnet("resnet18", num_classes),
    "airnet": lambda num_classes=10: AirNet((64, 256, 256), num_classes),
    "airnet_half": lambda num_classes=10: AirNet((32, 128, 128), num_classes),
}


def get_model(name: str, num_classes: int = 10) -> nn.Module:
    """Build a model by name: one of :data:`MODELS`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    return MODELS[name](num_classes=num_classes)
