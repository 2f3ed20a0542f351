"""CIFAR-10 for lrkit: found locally or downloaded, held in memory, augmented in batches.

Where the data comes from, in this order (:func:`find_cifar10`):

1. an explicit ``root`` (the CLI's ``--data-dir``),
2. the environment variable ``LRKIT_DATA_DIR``,
3. the user cache dir (``$XDG_CACHE_HOME/lrkit`` or ``~/.cache/lrkit``),
4. otherwise torchvision's official, md5-checked download into the cache (written to a temporary
   folder first and moved into place whole, so an interrupted download leaves nothing half-written).

A folder "has" CIFAR-10 when it is, or contains, the canonical ``cifar-10-batches-py`` folder. Local
copies are read straight from their pickles and are *not* md5-checked (a lossless copy need not be
byte-identical to the official archive); their shapes, labels and sizes are checked instead.

Images stay uint8 ``[N, 3, 32, 32]`` tensors in memory. :class:`BatchLoader` crops and flips a whole
batch at once (two ``gather`` s on uint8, on the images' device), then normalises; batch ``i`` is a pure
function of ``(seed, i)``, so a resumed run sees exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .utils import check_choice, check_int

__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_MD5", "CIFAR10_SHA256", "CIFAR10_URL", "Cifar10", "BatchLoader", "Preprocess",
    "augment_batch", "cifar10_loaders", "content_digest", "default_cache_dir", "find_cifar10", "load_cifar10",
    "make_preprocess", "stratified_subset", "synthetic_cifar10", "train_val_split",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
#: :func:`content_digest` of the official CIFAR-10 (train images, train labels, test images, test labels)
CIFAR10_SHA256 = "sha256:cb85cdd084bdd7718e8e746014bbc16f32cbe9ab4e0757d9f59e641b39f8f958"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
ENV_VAR = "LRKIT_DATA_DIR"
PAD = 4  # CIFAR augmentation: pad-4 random crop


class DataNotFoundError(FileNotFoundError):
    """CIFAR-10 is nowhere to be found and could not be downloaded."""


@dataclass
class Cifar10:
    """CIFAR-10 (or a CIFAR-shaped stand-in) in memory.

    ``train_x``/``test_x``: uint8 ``[N, 3, 32, 32]``; ``train_y``/``test_y``: int64 ``[N]``.
    ``source`` says *what* the data are, the same on every machine: ``"sha256:<hex>"``, the
    :func:`content_digest` of the images and labels (what results record as ``data_source``), or
    ``"synthetic"``. ``folder`` says *where* they were read from on this machine (None for synthetic
    data); it is not recorded in results.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    source: str
    folder: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# --------------------------------------------------------------------------------------------------
# Finding, downloading and reading
# --------------------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/lrkit`` or ``~/.cache/lrkit``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lrkit"


def _batches_dir(folder: Path) -> Path | None:
    """The ``cifar-10-batches-py`` folder that ``folder`` is or contains, if any."""
    if folder.name == BATCHES_DIR and folder.is_dir():
        return folder
    if (folder / BATCHES_DIR).is_dir():
        return folder / BATCHES_DIR
    return None


def find_cifar10(root: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Return the ``cifar-10-batches-py`` folder, searching root → ``LRKIT_DATA_DIR`` → cache.

    With ``download=True`` and no local copy, the official archive is downloaded (md5-checked by
    torchvision) into the cache dir. Raises :class:`DataNotFoundError` with a message naming
    ``LRKIT_DATA_DIR`` and the official URL when nothing works. An explicit ``root`` that does not
    exist is an error (a typo should not trigger a 170 MB download).
    """
    candidates: list[tuple[str, Path]] = []
    if root is not None:
        root = Path(root).expanduser()
        if not root.exists():
            raise DataNotFoundError(f"data dir (root / --data-dir) {root} does not exist")
        candidates.append(("root / --data-dir", root))
    env = os.environ.get(ENV_VAR)
    if env:
        envp = Path(env).expanduser()
        if not envp.exists():
            raise DataNotFoundError(f"{ENV_VAR}={env} does not exist")
        candidates.append((ENV_VAR, envp))
    cache = default_cache_dir()
    candidates.append(("cache", cache))
    for _, folder in candidates:
        found = _batches_dir(folder)
        if found is not None:
            return found
    if not download:
        raise DataNotFoundError(_not_found_message(candidates, None))
    try:
        return _download(cache)
    except Exception as e:  # noqa: BLE001 - any failure becomes one clear message
        raise DataNotFoundError(_not_found_message(candidates, e)) from e


def _not_found_message(candidates, err: Exception | None) -> str:
    looked = ", ".join(f"{name} ({path})" for name, path in candidates)
    msg = (f"CIFAR-10 not found: looked for a '{BATCHES_DIR}' folder in {looked}. "
           f"Point {ENV_VAR} (or --data-dir) at a folder holding '{BATCHES_DIR}', or let lrkit download "
           f"the official archive from {CIFAR10_URL}.")
    if err is not None:
        msg += f" The download failed: {type(err).__name__}: {err}"
    return msg


def _download(cache: Path) -> Path:
    """Download + md5-check + extract into a temp folder under ``cache``, then move it in place."""
    from torchvision.datasets.utils import download_and_extract_archive

    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".download-"))
    try:
        download_and_extract_archive(CIFAR10_URL, download_root=str(tmp), md5=CIFAR10_MD5)
        extracted = tmp / BATCHES_DIR
        _check_files(extracted)
        target = cache / BATCHES_DIR
        os.replace(extracted, target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataNotFoundError(f"CIFAR-10 batch file {path} is missing")
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="latin1")
        data = np.asarray(d["data"], dtype=np.uint8)
        labels = np.asarray(d.get("labels", d.get("fine_labels")), dtype=np.int64)
    except Exception as e:  # noqa: BLE001 - truncated/corrupt pickles raise many kinds of errors
        raise ValueError(f"CIFAR-10 batch file {path} is truncated or corrupt: {type(e).__name__}: {e}") from e
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise ValueError(f"CIFAR-10 batch file {path} has data of shape {data.shape} and "
                         f"{labels.shape[0]} labels; expected [n, 3072] and n labels")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"CIFAR-10 batch file {path} has labels outside 0..9")
    return data, labels


def _check_files(folder: Path) -> None:
    for name in TRAIN_FILES + TEST_FILES:
        if not (folder / name).is_file():
            raise DataNotFoundError(f"CIFAR-10 batch file {folder / name} is missing")


def load_cifar10(root: str | os.PathLike | None = None, *, download: bool = True) -> Cifar10:
    """Load all of CIFAR-10 (50,000 train / 10,000 test images) as uint8 tensors.

    See :func:`find_cifar10` for where it looks. Every batch file is checked (present, readable,
    10,000 rows of 3,072 bytes); a problem raises an error naming the file.
    """
    folder = find_cifar10(root, download=download)
    _check_files(folder)

    def read(names):
        xs, ys = zip(*(_read_batch(folder / n) for n in names), strict=True)
        x = np.concatenate(xs).reshape(-1, 3, 32, 32)
        return torch.from_numpy(x), torch.from_numpy(np.concatenate(ys))

    train_x, train_y = read(TRAIN_FILES)
    test_x, test_y = read(TEST_FILES)
    if train_x.shape[0] != 50_000 or test_x.shape[0] != 10_000:
        raise ValueError(f"{folder} holds {train_x.shape[0]} training and {test_x.shape[0]} test images; "
                         "expected 50,000 and 10,000 (a batch file is truncated?)")
    classes = CIFAR10_CLASSES
    meta = folder / "batches.meta"
    if meta.is_file():
        try:
            with open(meta, "rb") as f:
                classes = tuple(pickle.load(f, encoding="latin1")["label_names"])
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"CIFAR-10 meta file {meta} is truncated or corrupt: {e}") from e
    return Cifar10(train_x, train_y, test_x, test_y, classes, content_digest(train_x, train_y, test_x, test_y),
                   str(folder))


def content_digest(*tensors: torch.Tensor) -> str:
    """``"sha256:<hex>"`` over the bytes of ``tensors`` in order, each preceded by its dtype and shape.

    :func:`load_cifar10` records CIFAR-10 by the digest of its decoded images and labels (train x, train
    y, test x, test y), so that a result names its data the same way on every machine and for every
    lossless copy (the batch files need not be byte-identical to the official archive's). The official
    CIFAR-10 gives :data:`CIFAR10_SHA256`. 0.2 s for the 184 MB.
    """
    import hashlib

    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(memoryview(t.numpy()).cast("B"))
    return f"sha256:{h.hexdigest()}"


def synthetic_cifar10(n_train_per_class: int = 50, n_test_per_class: int = 10, *, seed: int = 0,
                      num_classes: int = 10) -> Cifar10:
    """A tiny CIFAR-shaped dataset for unit tests only (never used as a fallback for real runs).

    Each class is a fixed random low-frequency colour pattern plus pixel noise, so a small net can
    learn it in a few dozen steps.
    """
    for name, v in (("n_train_per_class", n_train_per_class), ("n_test_per_class", n_test_per_class),
                    ("num_classes", num_classes)):
        if not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    g = torch.Generator().manual_seed(seed)
    protos = torch.rand(num_classes, 3, 4, 4, generator=g)
    protos = torch.nn.functional.interpolate(protos, size=(32, 32), mode="bilinear", align_corners=False)

    def make(n):
        y = torch.arange(num_classes).repeat_interleave(n)
        x = protos[y] * 160 + 48 + torch.randn(len(y), 3, 32, 32, generator=g) * 30
        perm = torch.randperm(len(y), generator=g)
        return x.clamp(0, 255).round().to(torch.uint8)[perm], y[perm]

    train_x, train_y = make(n_train_per_class)
    test_x, test_y = make(n_test_per_class)
    classes = CIFAR10_CLASSES[:num_classes] if num_classes <= 10 else tuple(map(str, range(num_classes)))
    return Cifar10(train_x, train_y, test_x, test_y, tuple(classes), "synthetic")


# --------------------------------------------------------------------------------------------------
# Subsets and splits
# --------------------------------------------------------------------------------------------------
def stratified_subset(y: torch.Tensor, n_per_class: int, *, seed: int = 0,
                      classes: list[int] | None = None, name: str = "n_per_class") -> torch.Tensor:
    """Indices of ``n_per_class`` examples of every class (or of ``classes``), chosen with ``seed``.

    The result is sorted, so the subset keeps the data's order. ``name`` is the argument named in
    error messages (callers pass their own argument's name).
    """
    n_per_class = check_int(name, n_per_class, min=1)
    g = torch.Generator().manual_seed(seed)
    wanted = classes if classes is not None else sorted(torch.unique(y).tolist())
    out = []
    for c in wanted:
        idx = torch.nonzero(y == c).flatten()
        if len(idx) < n_per_class:
            raise ValueError(f"{name}={n_per_class} is larger than class {c}'s {len(idx)} examples")
        out.append(idx[torch.randperm(len(idx), generator=g)[:n_per_class]])
    return torch.cat(out).sort().values


def train_val_split(y: torch.Tensor, val_per_class: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified split of ``range(len(y))``: ``val_per_class`` of each class go to validation."""
    val = stratified_subset(y, val_per_class, seed=seed, name="val_per_class")
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[val] = False
    return torch.nonzero(mask).flatten(), val


# --------------------------------------------------------------------------------------------------
# Preprocessing and augmentation
# --------------------------------------------------------------------------------------------------
@dataclass
class Preprocess:
    """uint8 → float: ``(x − mean) / std``.

    ``kind="channel"``: per-channel mean/std of the training images (values scaled to [0, 1]).
    ``kind="pixel_mean"``: Caffe's per-pixel mean image subtracted from the raw 0–255 values
    (``cifar10_full_train_test.prototxt`` with ``mean.binaryproto``; no scaling).
    ``kind="none"``: values scaled to [0, 1].
    """

    kind: str
    mean: torch.Tensor
    std: torch.Tensor
    scale: float

    def __post_init__(self) -> None:
        # (x·scale − mean)/std == x·a + b: one fused multiply-add on the converted batch
        self._a = (self.scale / self.std).float()
        self._b = (-self.mean / self.std).float()

    def to(self, device: str | torch.device) -> Preprocess:
        """Keep the constants on ``device`` (what the batches will be on: no copy at the first batch)."""
        self._a, self._b = self._a.to(device), self._b.to(device)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._a.device != x.device:
            self._a, self._b = self._a.to(x.device), self._b.to(x.device)
        return torch.addcmul(self._b, x.to(torch.float32), self._a)


def make_preprocess(kind: Literal["channel", "pixel_mean", "none"], train_x: torch.Tensor, *,
                    dtype: torch.dtype = torch.float64) -> Preprocess:
    """Build the preprocessing from the training images ``train_x`` (uint8 ``[N,3,H,W]``); the statistics are
    computed in ``dtype`` on ``train_x``'s device (float32 on a GPU: no host round trip, and float64 buys
    nothing there for a mean and a standard deviation)."""
    if kind == "channel":
        xf = train_x.to(dtype) / 255.0
        mean = xf.mean(dim=(0, 2, 3)).float().view(3, 1, 1)
        std = xf.std(dim=(0, 2, 3)).float().view(3, 1, 1)
        return Preprocess(kind, mean, std, 1 / 255.0)
    if kind == "pixel_mean":
        mean = train_x.to(dtype).mean(dim=0).float()
        return Preprocess(kind, mean, torch.ones(1, 1, 1), 1.0)
    if kind == "none":
        return Preprocess(kind, torch.zeros(1, 1, 1), torch.ones(1, 1, 1), 1 / 255.0)
    raise ValueError(f"preprocess must be 'channel', 'pixel_mean' or 'none', got {kind!r}")


def augment_batch(x: torch.Tensor, generator: torch.Generator, *, pad: int = 4, flip: bool | torch.Tensor = True,
                  prepadded: bool = False) -> torch.Tensor:
    """Pad-``pad`` random crop and random horizontal flip of a whole batch at once.

    Zero padding as in the usual CIFAR recipe; each image gets its own offset in ``[0, 2·pad]`` and, with
    ``flip=True``, a fair coin for the flip (``flip`` may also be a bool tensor, one entry per image: those are
    flipped). Two gathers on the batch's dtype (uint8: 4× less memory traffic than float), along the rows
    and then along the columns, with the flip folded into the column index; the index tensors hold b·h and
    b·w entries. With ``prepadded=True`` ``x`` is already padded by ``pad`` on every side (what
    :class:`BatchLoader` keeps in memory). ``pad`` must be an int >= 0 and ``x`` a 4-d batch (``ValueError``
    naming them otherwise).

    The offsets and coins are drawn from ``generator`` on *its* device, in a fixed order (rows, columns,
    coins): a generator on the batch's device — what :class:`BatchLoader` passes — keeps the whole
    augmentation on that device, so a GPU batch needs nothing from the host and the host never waits for the
    GPU; a CPU generator with a GPU batch costs a blocking copy of the offsets.
    """
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad must be an int >= 0 (the crop's maximal shift in pixels), got {pad!r}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a 4-d batch of images (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    b, c, h, w = x.shape
    if isinstance(flip, torch.Tensor) and (flip.dtype != torch.bool or flip.shape != (b,)):
        raise ValueError(f"flip must be a bool or a bool tensor of shape ({b},), got {flip.dtype} {tuple(flip.shape)}")
    if prepadded:
        h, w = h - 2 * pad, w - 2 * pad
    elif pad > 0:
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    W = x.shape[3]
    gdev = generator.device
    dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=gdev)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=gdev)
    if isinstance(flip, torch.Tensor):
        f = flip.view(b, 1)
    else:
        f = torch.rand(b, 1, generator=generator, device=gdev) < 0.5 if flip else None
    if gdev != x.device:  # a host generator for a batch on another device
        dy, dx, f = dy.to(x.device), dx.to(x.device), f.to(x.device) if f is not None else None
    ar_h = torch.arange(h, device=x.device).view(1, h)
    ar_w = torch.arange(w, device=x.device).view(1, w)
    rows = (dy + ar_h).view(b, 1, h, 1).expand(b, c, h, W)
    cols = dx + ar_w if f is None else torch.where(f, dx + (w - 1) - ar_w, dx + ar_w)
    return x.gather(2, rows).gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w))


def _generator_device(device: torch.device) -> torch.device:
    """Where a loader draws its random numbers: on a CUDA device the images' own (no host index, no sync), else
    the CPU (the only other device with a generator; a tensor on another device gets the CPU's draws copied)."""
    return device if device.type == "cuda" else torch.device("cpu")


class BatchLoader:
    """Deterministic, in-memory batches of ``(float inputs, int64 labels)``.

    Batch ``i`` (counting across epochs) is a pure function of ``(seed, i)``: epoch ``i //
    steps_per_epoch`` uses the permutation drawn from ``seed`` and the epoch number, and the batch's
    augmentation draws from ``seed`` and ``i``. Both are drawn by generators on the images' device, so a
    loader on a GPU makes no host sync (on the CPU the batches are those of the host generators; on a GPU
    they come from CUDA's generators: as deterministic, not the same numbers). :meth:`get_batch` gives it directly (what
    :func:`lrkit.training.fit` uses, so resuming is exact); iterating yields one epoch, the next
    epoch on the next ``iter()``.

    Args:
        x, y: uint8 images ``[N,3,H,W]`` and int64 labels.
        batch_size: images per batch.
        shuffle: a new permutation every epoch (else the data's order).
        augment: pad-4 random crop + horizontal flip (training only).
        preprocess: a :class:`Preprocess` (or any callable uint8 → float); default: scale to [0, 1].
        drop_last: drop a last incomplete batch (default: True when shuffling).
        device: keep the images on this device (GPU: no host→device copy per batch).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = True,
                 augment: bool = False, preprocess=None, seed: int = 0, drop_last: bool | None = None,
                 device: str | torch.device | None = None):
        check_int("batch_size", batch_size, min=1)
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError(f"x must be uint8 [N, C, H, W], got {x.dtype} {tuple(x.shape)}")
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"x and y must be non-empty and of the same length, got {len(x)} and {len(y)}")
        self.drop_last = shuffle if drop_last is None else drop_last
        if self.drop_last and batch_size > len(x):
            raise ValueError(f"batch_size={batch_size} is larger than the {len(x)} examples (drop_last)")
        dev = torch.device(device) if device is not None else x.device
        self.x, self.y = x.to(dev), y.to(dev)
        # augmentation crops from images padded once, up front (uint8: 1.56× the memory)
        self._xp = torch.nn.functional.pad(self.x, (PAD,) * 4) if augment else None
        self.batch_size = batch_size
        self.shuffle, self.augment, self.seed = shuffle, augment, seed
        self.preprocess = preprocess if preprocess is not None else make_preprocess("none", x[:1])
        n = len(x)
        self.steps_per_epoch = n // batch_size if self.drop_last else -(-n // batch_size)
        self._perm_epoch = -1
        self._perm: torch.Tensor | None = None
        self._epoch = 0

    def __len__(self) -> int:
        return self.steps_per_epoch

    @property
    def num_examples(self) -> int:
        return len(self.x)

    def _epoch_perm(self, epoch: int) -> torch.Tensor | None:
        if not self.shuffle:
            return None
        if epoch != self._perm_epoch:  # drawn on the images' device: no host index, no copy
            dev = _generator_device(self.x.device)
            g = torch.Generator(device=dev).manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(len(self.x), generator=g, device=dev)
            self._perm = perm if dev == self.x.device else perm.to(self.x.device)  # another device: a fake one
            self._perm_epoch = epoch
        return self._perm

    def get_batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch number ``i`` counted from the first batch of epoch 0."""
        if i < 0:
            raise ValueError(f"batch index must be >= 0, got {i}")
        epoch, j = divmod(i, self.steps_per_epoch)
        lo, hi = j * self.batch_size, min((j + 1) * self.batch_size, len(self.x))
        perm = self._epoch_perm(epoch)
        src = self._xp if self.augment else self.x
        if perm is None:
            xb, yb = src[lo:hi], self.y[lo:hi]
        else:
            idx = perm[lo:hi]
            xb, yb = src[idx], self.y[idx]
        if self.augment:
            xb = augment_batch(xb, self._generator(i), pad=PAD, prepadded=True)
        return self.preprocess(xb), yb

    def _generator(self, i: int) -> torch.Generator:
        """The generator of batch ``i``'s augmentation, on the images' device, seeded from ``(seed, i)``."""
        return torch.Generator(device=_generator_device(self.x.device)).manual_seed((self.seed + 1) * 7_368_787 + i)

    def __iter__(self):
        epoch = self._epoch
        self._epoch += 1
        base = epoch * self.steps_per_epoch
        for j in range(self.steps_per_epoch):
            yield self.get_batch(base + j)


@dataclass
class Loaders:
    """What :func:`cifar10_loaders` returns."""

    train: BatchLoader
    val: BatchLoader | None
    test: BatchLoader
    preprocess: Preprocess
    classes: tuple[str, ...]
    source: str


def cifar10_loaders(
    data: Cifar10 | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    batch_size: int = 128,
    eval_batch_size: int = 500,
    n_per_class: int | None = None,
    val_per_class: int = 0,
    test_per_class: int | None = None,
    classes: list[int] | None = None,
    augment: bool = True,
    preprocess: Literal["channel", "pixel_mean", "none"] = "channel",
    seed: int = 0,
    device: str | torch.device | None = None,
    stats_dtype: torch.dtype = torch.float64,
) -> Loaders:
    """Train / validation / test :class:`BatchLoader` s over CIFAR-10 (or ``data``).

    ``n_per_class`` takes a stratified, seeded training subset (after the validation split);
    ``val_per_class`` holds that many training images of each class out for validation;
    ``test_per_class`` subsets the test set; ``classes`` keeps only those labels (relabelled
    0..k−1 in the given order). Normalisation statistics come from the training images used, computed in
    ``stats_dtype`` on ``device`` (where the loaders keep the images).
    """
    batch_size = check_int("batch_size", batch_size, min=1)
    eval_batch_size = check_int("eval_batch_size", eval_batch_size, min=1)
    for name, v in (("n_per_class", n_per_class), ("test_per_class", test_per_class)):
        if v is not None:
            check_int(name, v, min=1)
    val_per_class = check_int("val_per_class", val_per_class, min=0)
    check_choice("preprocess", preprocess, ("channel", "pixel_mean", "none"))
    seed = check_int("seed", seed, min=0)
    if data is None:
        data = load_cifar10(data_dir)
    tx, ty, sx, sy = data.train_x, data.train_y, data.test_x, data.test_y
    names = data.classes
    if classes is not None:
        if not classes or any(c < 0 or c >= data.num_classes for c in classes) or len(set(classes)) != len(classes):
            raise ValueError(f"classes must be distinct labels in 0..{data.num_classes - 1}, got {classes}")
        lut = torch.full((data.num_classes,), -1, dtype=torch.int64)
        lut[torch.tensor(classes)] = torch.arange(len(classes))
        keep, keep_t = lut[ty] >= 0, lut[sy] >= 0
        tx, ty, sx, sy = tx[keep], lut[ty[keep]], sx[keep_t], lut[sy[keep_t]]
        names = tuple(data.classes[c] for c in classes)
    val_loader = None
    if val_per_class:
        tr_idx, va_idx = train_val_split(ty, val_per_class, seed=seed)
        vx, vy = tx[va_idx], ty[va_idx]
        tx, ty = tx[tr_idx], ty[tr_idx]
    if n_per_class is not None:
        idx = stratified_subset(ty, n_per_class, seed=seed)
        tx, ty = tx[idx], ty[idx]
    if test_per_class is not None:
        idx = stratified_subset(sy, test_per_class, seed=seed, name="test_per_class")
        sx, sy = sx[idx], sy[idx]
    dev = torch.device(device) if device is not None else tx.device
    tx = tx.to(dev)  # once, before the statistics: they are computed where the images will be
    pre = make_preprocess(preprocess, tx, dtype=stats_dtype).to(dev)
    if batch_size > len(tx):
        warnings.warn(f"batch_size={batch_size} > {len(tx)} training images: using {len(tx)}", stacklevel=2)
        batch_size = len(tx)
    train = BatchLoader(tx, ty, batch_size, shuffle=True, augment=augment, preprocess=pre, seed=seed,
                        device=device)
    if val_per_class:
        val_loader = BatchLoader(vx, vy, eval_batch_size, shuffle=False, preprocess=pre, device=device)
    test = BatchLoader(sx, sy, eval_batch_size, shuffle=False, preprocess=pre, device=device)
    return Loaders(train, val_loader, test, pre, tuple(names), data.source)
