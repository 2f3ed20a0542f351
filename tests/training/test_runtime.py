"""The Runtime's decisions (lrkit.training.runtime), tested with mocks — no GPU needed, none used: bfloat16
autocast without a GradScaler where the device has it natively, float16 + GradScaler otherwise; cuDNN's
autotuner on CUDA for the length of a run, unless deterministic algorithms are asked for."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lrkit.training import Callback, Runtime, fit
from lrkit.training import runtime as R


class FakeScaler:
    def __init__(self, device):
        self.device = device


@pytest.fixture
def gpu(monkeypatch):
    """A pretend CUDA GPU: ``gpu(native_bf16)``; GradScaler replaced by a recorder (no CUDA is touched)."""
    asked = []

    def install(native: bool):
        def is_bf16_supported(including_emulation=True):
            asked.append(including_emulation)
            return native or including_emulation  # an older GPU "supports" bf16 only through emulation

        monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
        monkeypatch.setattr(torch.amp, "GradScaler", FakeScaler)
        return asked

    return install


@pytest.mark.parametrize("native, dtype, scaled", [(True, torch.bfloat16, False), (False, torch.float16, True)],
                         ids=["ampere-or-later", "older-gpu"])
def test_amp_on_cuda_is_bf16_without_scaler_where_native_else_fp16_with_scaler(gpu, native, dtype, scaled):
    asked = gpu(native)
    rt = Runtime.resolve(nn.Linear(2, 2), device="cuda", amp=True)
    assert rt.amp_dtype == dtype and R.amp_dtype_for(torch.device("cuda")) == dtype
    assert (rt.scaler is not None) == scaled
    if scaled:
        assert isinstance(rt.scaler, FakeScaler) and rt.scaler.device == "cuda"
    assert asked and not any(asked)  # native support only: emulated bf16 is slow and does not count


def test_amp_off_or_on_the_cpu_needs_no_scaler(gpu):
    gpu(False)
    assert Runtime.resolve(nn.Linear(2, 2), device="cuda").amp_dtype is None
    cpu = Runtime.resolve(nn.Linear(2, 2), amp=True)
    assert cpu.amp_dtype == torch.bfloat16 and cpu.scaler is None and not cpu.cudnn_benchmark


@pytest.mark.parametrize("amp, dtype", [("float16", torch.float16), ("fp16", torch.float16),
                                        (torch.bfloat16, torch.bfloat16), ("bfloat16", torch.bfloat16), (1, "auto")])
def test_amp_may_name_the_dtype(gpu, amp, dtype):
    gpu(True)
    rt = Runtime.resolve(nn.Linear(2, 2), device="cuda", amp=amp)
    assert rt.amp_dtype == (torch.bfloat16 if dtype == "auto" else dtype)
    assert (rt.scaler is not None) == (rt.amp_dtype == torch.float16)  # float16 always comes with a scaler


def test_amp_rejects_other_dtypes():
    with pytest.raises(ValueError, match="amp must be"):
        Runtime.resolve(nn.Linear(2, 2), amp="int8")
    with pytest.raises(ValueError, match="amp must be"):
        Runtime.resolve(nn.Linear(2, 2), amp=torch.float64)


def test_torch_without_including_emulation_is_asked_plainly(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)  # an older torch's signature
    assert R.cuda_bf16_native() is True


def test_cudnn_autotuner_on_cuda_unless_determinism_is_asked_for(monkeypatch, gpu):
    gpu(True)
    assert Runtime.resolve(nn.Linear(2, 2), device="cuda").cudnn_benchmark
    assert not Runtime.resolve(nn.Linear(2, 2), device="cpu").cudnn_benchmark
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    assert not Runtime.resolve(nn.Linear(2, 2), device="cuda").cudnn_benchmark
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: False)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    assert not Runtime.resolve(nn.Linear(2, 2), device="cuda").cudnn_benchmark


def test_backend_settings_set_the_flag_for_the_block_only(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    with Runtime(torch.device("cuda"), cudnn_benchmark=True).backend_settings():
        assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cudnn.benchmark is False
    with pytest.raises(RuntimeError), Runtime(torch.device("cuda"), cudnn_benchmark=True).backend_settings():
        raise RuntimeError("boom")
    assert torch.backends.cudnn.benchmark is False
    with Runtime(torch.device("cpu")).backend_settings():
        assert torch.backends.cudnn.benchmark is False


class Flag(Callback):
    needs_loss = False

    def __init__(self):
        self.seen = []

    def __call__(self, it, h):
        self.seen.append(torch.backends.cudnn.benchmark)


def test_fit_trains_inside_the_runtime_backend_settings(monkeypatch):
    """fit resolves its Runtime once and trains inside its backend settings: with a runtime that asks for the
    autotuner (as a CUDA one does) the flag is on at every step and as it was afterwards."""
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    real = Runtime.resolve

    def tuned(*args, **kwargs):
        rt = real(*args, **kwargs)
        return Runtime(rt.device, rt.amp_dtype, rt.channels_last, rt.scaler, cudnn_benchmark=True)

    monkeypatch.setattr(Runtime, "resolve", tuned)
    model, flag = nn.Linear(4, 2), Flag()
    data = [(torch.randn(8, 4), torch.randint(0, 2, (8,)))]
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data * 3, iterations=3, callbacks=[flag], progress=False)
    assert flag.seen == [True, True, True] and torch.backends.cudnn.benchmark is False
