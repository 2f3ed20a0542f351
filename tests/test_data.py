from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import torch

from lrkit import data as D


# ---------------------------------------------------------------- real CIFAR-10 (skipped without it)
def test_real_cifar10_sizes_and_labels(real_cifar):
    assert real_cifar.train_x.shape == (50_000, 3, 32, 32)
    assert real_cifar.test_x.shape == (10_000, 3, 32, 32)
    assert real_cifar.train_x.dtype == torch.uint8
    assert torch.bincount(real_cifar.train_y).tolist() == [5000] * 10
    assert torch.bincount(real_cifar.test_y).tolist() == [1000] * 10
    assert real_cifar.test_y[0].item() == 3  # a cat
    assert real_cifar.train_y[0].item() == 6  # a frog
    assert real_cifar.classes[3] == "cat"


def test_real_cifar10_loaders(real_cifar):
    L = D.cifar10_loaders(real_cifar, batch_size=100, n_per_class=20, val_per_class=10, test_per_class=5)
    assert L.train.num_examples == 200 and L.val.num_examples == 100 and L.test.num_examples == 50
    x, y = L.train.get_batch(0)
    assert x.shape == (100, 3, 32, 32) and x.dtype == torch.float32
    # normalised with the subset's own statistics: roughly zero mean, unit std per channel
    full = torch.cat([L.train.get_batch(i)[0] for i in range(2)])
    assert full.mean().abs() < 0.3 and 0.6 < full.std() < 1.4


# ---------------------------------------------------------------- finding the data and bad dirs
def _fake_dir(tmp_path, synthetic):
    folder = tmp_path / "copy" / D.BATCHES_DIR
    folder.mkdir(parents=True)
    x = synthetic.train_x[:20].reshape(20, -1).numpy()
    for name in D.TRAIN_FILES + D.TEST_FILES:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": x, "labels": synthetic.train_y[:20].tolist(), "batch_label": name}, f)
    return folder


def test_missing_batch_file_is_named(tmp_path, synthetic):
    folder = _fake_dir(tmp_path, synthetic)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        D.load_cifar10(folder.parent)


def test_truncated_batch_file_is_named(tmp_path, synthetic):
    folder = _fake_dir(tmp_path, synthetic)
    raw = (folder / "data_batch_2").read_bytes()
    (folder / "data_batch_2").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="data_batch_2"):
        D.load_cifar10(folder.parent)


def test_short_files_are_rejected(tmp_path, synthetic):
    folder = _fake_dir(tmp_path, synthetic)  # 20 images per file instead of 10,000
    with pytest.raises(ValueError, match="expected 50,000"):
        D.load_cifar10(folder)


def test_nonexistent_root_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        D.find_cifar10(tmp_path / "nope")


def test_search_order_root_then_env(tmp_path, synthetic, monkeypatch):
    a = _fake_dir(tmp_path / "a", synthetic)
    b = _fake_dir(tmp_path / "b", synthetic)
    monkeypatch.setenv("LRKIT_DATA_DIR", str(b.parent))
    assert D.find_cifar10(a.parent) == a
    assert D.find_cifar10() == b
    assert D.find_cifar10(a) == a  # the batches folder itself is accepted too


def test_offline_without_copy_gives_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("LRKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    import torchvision.datasets.utils as tvu

    def failing_download(url, download_root, md5=None, **kw):
        # a partial archive lands, then the network drops
        with open(f"{download_root}/cifar-10-python.tar.gz", "wb") as f:
            f.write(b"partial")
        raise OSError("network is unreachable")

    monkeypatch.setattr(tvu, "download_and_extract_archive", failing_download)
    with pytest.raises(D.DataNotFoundError) as err:
        D.load_cifar10()
    msg = str(err.value)
    assert "LRKIT_DATA_DIR" in msg and D.CIFAR10_URL in msg and "network is unreachable" in msg
    cache = tmp_path / "cache" / "lrkit"
    assert list(cache.iterdir()) == []  # nothing half-written


def test_download_false_does_not_download(tmp_path, monkeypatch):
    monkeypatch.delenv("LRKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(D.DataNotFoundError, match="LRKIT_DATA_DIR"):
        D.find_cifar10(download=False)


def test_successful_download_is_moved_in_whole(tmp_path, monkeypatch, synthetic):
    monkeypatch.delenv("LRKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = _fake_dir(tmp_path / "src", synthetic)
    import torchvision.datasets.utils as tvu

    def fake_download(url, download_root, md5=None, **kw):
        assert url == D.CIFAR10_URL and md5 == D.CIFAR10_MD5
        shutil.copytree(src, f"{download_root}/{D.BATCHES_DIR}")

    monkeypatch.setattr(tvu, "download_and_extract_archive", fake_download)
    found = D.find_cifar10()
    assert found == tmp_path / "cache" / "lrkit" / D.BATCHES_DIR
    assert sorted(p.name for p in found.parent.iterdir()) == [D.BATCHES_DIR]


# ---------------------------------------------------------------- subsets, splits, loaders
def test_stratified_subset(synthetic):
    idx = D.stratified_subset(synthetic.train_y, 7, seed=1)
    assert torch.bincount(synthetic.train_y[idx]).tolist() == [7] * 10
    assert torch.equal(idx, D.stratified_subset(synthetic.train_y, 7, seed=1))
    assert not torch.equal(idx, D.stratified_subset(synthetic.train_y, 7, seed=2))
    with pytest.raises(ValueError, match="n_per_class"):
        D.stratified_subset(synthetic.train_y, 41)
    with pytest.raises(ValueError, match="n_per_class"):
        D.stratified_subset(synthetic.train_y, 0)


def test_train_val_split_disjoint(synthetic):
    tr, va = D.train_val_split(synthetic.train_y, 5, seed=0)
    assert len(set(tr.tolist()) & set(va.tolist())) == 0
    assert len(tr) + len(va) == len(synthetic.train_y)
    assert torch.bincount(synthetic.train_y[va]).tolist() == [5] * 10


def test_augment_identity_flip_and_crop():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(D.augment_batch(x, g, pad=0, flip=False), x)
    out = D.augment_batch(x, torch.Generator().manual_seed(3), pad=4, flip=True)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for b in range(16):  # every output is some crop of the padded image, possibly mirrored
        ok = False
        for dy in range(9):
            for dx in range(9):
                crop = padded[b, :, dy:dy + 32, dx:dx + 32]
                if torch.equal(out[b], crop) or torch.equal(out[b], crop.flip(-1)):
                    ok = True
        assert ok


def test_augment_uses_all_offsets_and_flips():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(4000, 1, 8, 8, dtype=torch.uint8)
    x[:, :, 0, 0] = 255  # a marker pixel: its position reveals the offset and the flip
    out = D.augment_batch(x, g, pad=2)
    pos = out.view(4000, -1).argmax(1)
    assert len(torch.unique(pos)) >= 5
    visible = out.view(4000, -1).amax(1) > 0
    flipped = (out[:, 0, :, 4:].sum((1, 2)) > 0)[visible].float().mean()
    assert 0.4 < flipped < 0.6
    assert 0.3 < visible.float().mean() < 0.42  # marker survives the crop when dy, dx <= 2: 9/25


def test_batch_loader_deterministic_and_epochs(synthetic):
    pre = D.make_preprocess("channel", synthetic.train_x)
    a = D.BatchLoader(synthetic.train_x, synthetic.train_y, 32, augment=True, preprocess=pre, seed=5)
    b = D.BatchLoader(synthetic.train_x, synthetic.train_y, 32, augment=True, preprocess=pre, seed=5)
    for i in (0, 3, 12, 40):
        xa, ya = a.get_batch(i)
        xb, yb = b.get_batch(i)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert len(a) == 400 // 32
    e0 = list(iter(a))
    e1 = list(iter(a))
    assert len(e0) == len(a)
    assert torch.equal(e0[2][0], a.get_batch(2)[0]) and torch.equal(e1[0][0], a.get_batch(len(a))[0])
    # one epoch without augmentation sees every example once
    c = D.BatchLoader(synthetic.train_x, synthetic.train_y, 50, shuffle=True, seed=1)
    ys = torch.cat([y for _, y in c])
    assert torch.bincount(ys).tolist() == torch.bincount(synthetic.train_y).tolist()


def test_eval_loader_keeps_last_partial_batch(synthetic):
    L = D.BatchLoader(synthetic.test_x, synthetic.test_y, 30, shuffle=False)
    sizes = [len(y) for _, y in L]
    assert sum(sizes) == 100 and sizes[-1] == 10


def test_preprocess_kinds(synthetic):
    pm = D.make_preprocess("pixel_mean", synthetic.train_x)
    out = pm(synthetic.train_x)
    assert out.mean(0).abs().max() < 1e-3  # per-pixel mean removed, raw 0–255 scale kept
    assert out.abs().max() > 20
    ch = D.make_preprocess("channel", synthetic.train_x)(synthetic.train_x)
    assert np.allclose(ch.mean((0, 2, 3)).numpy(), 0, atol=1e-4)
    assert np.allclose(ch.std((0, 2, 3)).numpy(), 1, atol=1e-3)
    with pytest.raises(ValueError, match="preprocess"):
        D.make_preprocess("zca", synthetic.train_x)


@pytest.mark.parametrize("kw,match", [
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 10_000}, "batch_size"),
])
def test_batch_loader_bad_input(synthetic, kw, match):
    with pytest.raises(ValueError, match=match):
        D.BatchLoader(synthetic.train_x, synthetic.train_y, **kw)


def test_loaders_bad_classes(synthetic):
    with pytest.raises(ValueError, match="classes"):
        D.cifar10_loaders(synthetic, classes=[0, 11])
    L = D.cifar10_loaders(synthetic, classes=[9, 1], batch_size=20)
    ys = torch.cat([y for _, y in L.test])
    assert set(ys.tolist()) == {0, 1} and L.classes == ("truck", "automobile")


def test_synthetic_is_learnable_shape(synthetic):
    assert synthetic.train_x.shape == (400, 3, 32, 32) and synthetic.source == "synthetic"
    with pytest.raises(ValueError, match="n_train_per_class"):
        D.synthetic_cifar10(0)


def test_content_digest_names_the_data_not_the_folder():
    """Results record the data by a digest of its content (the same on every machine), not a path."""
    import torch

    from lrkit.data import content_digest

    x, y = torch.arange(24, dtype=torch.uint8).view(2, 3, 2, 2), torch.tensor([0, 1])
    d = content_digest(x, y)
    assert d.startswith("sha256:") and len(d) == 7 + 64 and d == content_digest(x.clone(), y.clone())
    x2 = x.clone()
    x2[0, 0, 0, 0] += 1
    assert content_digest(x2, y) != d and content_digest(x.view(2, 12), y) != d   # content and shape count
    assert D.synthetic_cifar10(2, 1).source == "synthetic" and D.synthetic_cifar10(2, 1).folder is None


def test_real_cifar10_is_recorded_by_its_digest(real_cifar):
    from lrkit.data import CIFAR10_SHA256

    assert real_cifar.source == CIFAR10_SHA256 and "/" not in real_cifar.source
    assert real_cifar.folder and real_cifar.folder.endswith("cifar-10-batches-py")
