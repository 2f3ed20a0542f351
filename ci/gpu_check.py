#!/usr/bin/env python
"""The device check: what only a GPU can show, in one short run (≤ 10 min on one H100/H200).

1. **The CUDA path** (also runs on the CPU, with bfloat16 autocast instead of float16):
   - ``lr_find`` with AMP (float16 + GradScaler on CUDA) and data on the device: every state restored bit
     for bit (parameters, buffers, optimizer, scaler, CPU and CUDA RNG);
   - ``fit`` with AMP, killed after a checkpoint and resumed: the same History as an uninterrupted run;
   - a BatchLoader holding the images on the device (no host→device copy per batch).
2. **Smith 2017 Table 1 at paper scale** on the device, for as long as ``--budget`` allows, through
   ``lrkit bench run smith2017-table1 --scale paper`` (resumable; results in ``--out``).

Prints one JSON line per check and a summary; exit 1 if a check fails.

    python ci/gpu_check.py --out /tmp/gpu-check --budget 420          # on the GPU machine
    python ci/gpu_check.py --device cpu --small --budget 0            # the same checks on a CPU, small
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch


def _equal(a, b) -> bool:
    import numpy as np

    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a.cpu(), b.cpu())
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def check_lr_find(data, device: str) -> dict:
    from lrkit.data import cifar10_loaders
    from lrkit.models import get_model
    from lrkit.rangetest import lr_find
    from lrkit.utils import get_rng_state

    L = cifar10_loaders(data, batch_size=128, n_per_class=200, test_per_class=10, seed=0, device=device)
    torch.manual_seed(0)
    model = get_model("resnet20").to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler(device) if device.startswith("cuda") else None
    before = (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()), get_rng_state(),
              copy.deepcopy(scaler.state_dict()) if scaler else None)
    t0 = time.perf_counter()
    rt = lr_find(model, L.train, opt, start_lr=1e-5, end_lr=10, num_iter=60, amp=True, scaler=scaler,
                 channels_last=True, progress=False)
    after = (model.state_dict(), opt.state_dict(), get_rng_state(), scaler.state_dict() if scaler else None)
    return {"check": "lr_find + AMP restore", "ok": all(_equal(a, b) for a, b in zip(before, after, strict=True)),
            "points": len(rt), "reason": rt.reason, "skipped_steps": rt.skipped_steps,
            "one_cycle_peak": rt.suggest(for_="one_cycle").lr, "seconds": round(time.perf_counter() - t0, 1)}


def check_resume(data, device: str, tmp: Path) -> dict:
    from lrkit import training as T
    from lrkit.data import cifar10_loaders
    from lrkit.models import get_model
    from lrkit.schedules import OneCycle
    from lrkit.utils import seed_everything

    L = cifar10_loaders(data, batch_size=128, n_per_class=200, test_per_class=20, seed=0, device=device)

    def run(ckpt, kill_at=None):
        seed_everything(0)
        m = get_model("resnet20").to(device)
        o = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        cbs = []
        if kill_at:
            def die(it, h):
                if it + 1 == kill_at:
                    raise KeyboardInterrupt
            cbs = [die]
        return T.fit(m, o, L.train, iterations=40, schedule=OneCycle(0.2, 40), momentum="auto", eval_data=L.test,
                     eval_every=20, amp=True, checkpoint=ckpt, checkpoint_every=10, resume=True, callbacks=cbs,
                     progress=False)

    t0 = time.perf_counter()
    clean = run(tmp / "clean.pt")
    try:
        run(tmp / "killed.pt", kill_at=25)
    except KeyboardInterrupt:
        pass
    resumed = run(tmp / "killed.pt")
    same = all(getattr(clean, k) == getattr(resumed, k) for k in ("iteration", "lr", "train_loss", "evals"))
    return {"check": "fit + AMP, killed and resumed", "ok": same, "final_acc": clean.final_eval()["acc"],
            "seconds": round(time.perf_counter() - t0, 1)}


def check_data_on_device(data, device: str) -> dict:
    from lrkit.data import cifar10_loaders

    L = cifar10_loaders(data, batch_size=256, n_per_class=100, seed=0, device=device)
    x, y = L.train.get_batch(0)
    return {"check": "BatchLoader data on the device", "ok": x.device.type == torch.device(device).type
            and y.device.type == x.device.type, "device": str(x.device)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default="/tmp/lrkit-gpu-check")
    ap.add_argument("--budget", type=float, default=420.0, help="seconds for the Table 1 runs (0: skip them)")
    ap.add_argument("--small", action="store_true", help="synthetic data (a CPU rehearsal of the script)")
    args = ap.parse_args(argv)
    from lrkit.data import load_cifar10, synthetic_cifar10

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = synthetic_cifar10(300, 30, seed=0) if args.small else load_cifar10(args.data_dir, download=False)
    info = {"device": args.device, "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    print(json.dumps(info), flush=True)
    results = []
    for fn in (check_data_on_device, check_lr_find):
        results.append(fn(data, args.device))
        print(json.dumps(results[-1]), flush=True)
    results.append(check_resume(data, args.device, out))
    print(json.dumps(results[-1]), flush=True)
    if args.budget > 0:
        import subprocess

        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "lrkit", "bench", "run", "smith2017-table1", "--scale", "paper", "--only",
               "triangular2", "fixed", "--device", args.device, "--out", str(out / "bench"), "--no-progress"]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        try:
            proc = subprocess.run(cmd, timeout=args.budget, capture_output=True, text=True)
            tail = proc.stdout[-2000:] + proc.stderr[-2000:]
        except subprocess.TimeoutExpired as e:
            tail = f"stopped after {args.budget:.0f} s (resumable): {(e.stdout or b'')[-1000:]!r}"
        results.append({"check": "smith2017-table1 paper on the device", "ok": True,
                        "seconds": round(time.perf_counter() - t0, 1), "log_tail": tail})
        print(json.dumps(results[-1]), flush=True)
    failed = [r["check"] for r in results if not r["ok"]]
    print(json.dumps({"summary": "all passed" if not failed else f"failed: {failed}"}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
