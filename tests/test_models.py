from __future__ import annotations

import pytest
import torch

from lrkit import models as M


@pytest.mark.parametrize("name", sorted(M.MODELS))
def test_output_shapes(name):
    m = M.get_model(name, num_classes=7)
    assert m(torch.randn(3, 3, 32, 32)).shape == (3, 7)


def test_parameter_counts():
    assert M.count_parameters(M.caffe_cifar10_full()) == 89_578
    assert abs(M.count_parameters(M.resnet20()) - 270_000) < 5_000
    assert abs(M.count_parameters(M.resnet56()) - 850_000) < 10_000
    assert 250_000 < M.count_parameters(M.fastnet()) < 350_000


def test_unknown_model_and_bad_classes():
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        M.get_model("vgg")
    with pytest.raises(ValueError, match="num_classes"):
        M.get_model("resnet20", num_classes=0)
    with pytest.raises(ValueError, match="arch"):
        M.torchvision_resnet("vgg16")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        M.torchvision_resnet("resnet18", weights="nope.pt")


def _caffe_lrn_direct(x, size, alpha, beta):
    """Caffe's WITHIN_CHANNEL formula written out position by position."""
    n, c, h, w = x.shape
    r = size // 2
    out = torch.empty_like(x)
    for i in range(h):
        for j in range(w):
            win = x[:, :, max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]
            s = (win ** 2).sum(dim=(2, 3))
            out[:, :, i, j] = x[:, :, i, j] * (1 + alpha / size ** 2 * s) ** (-beta)
    return out


def test_caffe_lrn_matches_formula():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 7, 6, dtype=torch.float64) * 30  # large values so the norm matters
    lrn = M.CaffeLRN(3, 5e-5, 0.75)
    got = lrn(x)
    want = _caffe_lrn_direct(x, 3, 5e-5, 0.75)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(got, x)  # it does something
    # and it is not PyTorch's across-channel LRN
    across = torch.nn.LocalResponseNorm(3, 5e-5, 0.75, 1.0)(x)
    assert not torch.allclose(got, across)
    with pytest.raises(ValueError, match="size"):
        M.CaffeLRN(2)


def test_caffe_net_structure_and_init():
    torch.manual_seed(0)
    m = M.caffe_cifar10_full()
    assert m.conv1.weight.std().item() == pytest.approx(1e-4, rel=0.1)
    assert m.conv2.weight.std().item() == pytest.approx(1e-2, rel=0.1)
    assert all(float(b.abs().sum()) == 0 for n, b in m.named_parameters() if n.endswith("bias"))
    assert m.fc.in_features == 64 * 4 * 4  # ceil-mode pooling 32 → 16 → 8 → 4
    groups = M.multiplier_param_groups(m)
    by = {(g["lr_mult"], g["decay_mult"]): len(g["params"]) for g in groups}
    assert by == {(1.0, 1.0): 4, (2.0, 1.0): 2, (1.0, 250.0): 1, (2.0, 0.0): 1}
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))
    with pytest.raises(ValueError, match="conv9"):
        M.multiplier_param_groups(m, {"conv9.weight": (1, 1)})
