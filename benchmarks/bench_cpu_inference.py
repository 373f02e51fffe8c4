"""CPU inference candidates for the PSM downstream network, side by side in one run.

    .venv/bin/python benchmarks/bench_cpu_inference.py [--repeat 5] [--threads 2]
        [--image TILE.tif] [--compile]

One 1000 x 1000 tile (padded to the network's multiple) through: torch eager fp32 (the
engine before issue 18), inference_mode + batch norm folded into the convolutions,
+ channels_last, bf16 autocast, TorchScript freeze + optimize_for_inference, ONNX
Runtime fp32 (the folded network exported in memory) and, with --compile,
torch.compile. Candidates alternate within every repeat (best of the repeats is
reported, so load changes hit all alike). Columns: seconds, speed-up over eager, the
largest probability difference from eager and the mask pixels (p > 0.5) that differ.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import torch
from _harness import DATA

from napari_pathrobust.engine.models.inference import (
    NetworkRunner,
    fold_batchnorm,
    onnxruntime_available,
)
from napari_pathrobust.engine.models.unet import padded_input
from napari_pathrobust.engine.registry import get_method


def candidates(net: torch.nn.Module, x: torch.Tensor, compile_: bool) -> dict:
    folded = fold_batchnorm(net)
    last = copy.deepcopy(folded).to(memory_format=torch.channels_last)
    x_last = x.contiguous(memory_format=torch.channels_last)

    def run(model, inp, dtype=None):
        def call():
            with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.float32,
                                                        enabled=dtype is not None):
                return torch.sigmoid(model(inp)).float().contiguous()
        return call

    def eager():
        with torch.no_grad():
            return torch.sigmoid(net(x))

    out = {"torch eager fp32 (before)": eager,
           "inference_mode + folded BN": run(folded, x),
           "folded + channels_last": run(last, x_last),
           "folded + bf16 autocast": run(folded, x, torch.bfloat16),
           "folded + bf16 + channels_last": run(last, x_last, torch.bfloat16)}
    with torch.no_grad():
        script = torch.jit.optimize_for_inference(torch.jit.freeze(
            torch.jit.trace(net, x[..., :256, :256]).eval()))
    out["TorchScript freeze + optimize_for_inference"] = run(script, x)
    if onnxruntime_available():
        ort = NetworkRunner(net, torch.device("cpu"), "onnxruntime",
                            threads=torch.get_num_threads())
        out["ONNX Runtime fp32 (folded; the shipped default)"] = lambda: ort(x)
    if compile_:
        start = time.perf_counter()
        compiled = torch.compile(folded)
        run(compiled, x)()
        print(f"torch.compile: first call (compilation) {time.perf_counter() - start:.1f} s")
        out["torch.compile (inductor)"] = run(compiled, x)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path,
                    default=DATA / "images" / "TCGA-18-5592-01Z-00-DX1.tif")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.image.exists():
        import tifffile

        rgb = tifffile.imread(args.image)[:1000, :1000, :3]
    else:
        from napari_pathrobust.engine.synthetic import synthetic_he_tile

        rgb = synthetic_he_tile(shape=(1000, 1000), seed=0)[0]
    net = get_method("psm", device="cpu", maps=False).seg_net
    x = padded_input(rgb, net.multiple, torch.device("cpu"))
    cands = candidates(net, x, args.compile)
    ref = cands["torch eager fp32 (before)"]()
    times = {k: [] for k in cands}
    outs = {k: f() for k, f in cands.items()}  # warm-up
    for _ in range(args.repeat):
        for k, f in cands.items():
            start = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - start)
    load = os.getloadavg()
    print(f"\n{tuple(x.shape)} input, {args.threads} threads, best of {args.repeat}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print("| candidate | seconds | speed-up | max prob. difference | mask pixels differing |")
    print("|---|---|---|---|---|")
    base = min(times["torch eager fp32 (before)"])
    for k in cands:
        diff = (outs[k] - ref).abs().max().item()
        flips = int(((outs[k] > 0.5) != (ref > 0.5))[:, 0].sum())
        print(f"| {k} | {min(times[k]):.3f} | {base / min(times[k]):.2f}x | {diff:.1e} | "
              f"{flips} |")


if __name__ == "__main__":
    main()
