"""One device session (issue 18): PSM on a GPU and CPU scale-out with dask, one table.

    python benchmarks/gpu_session.py                 # ~8 minutes on one H100/H200, 16 cores
    python benchmarks/gpu_session.py --smoke         # tiny sizes, CPU if no GPU: checks the script

Steps (each prints a row as soon as it is measured, the table is repeated at the end):

1. writes a SIZE x SIZE OME-Zarr slide with tissue (scale.py's disc of synthetic H&E on
   glass, chunks written by a thread pool);
2. network throughput: the PSM downstream network on batches of BATCH tiles of
   TILE x TILE on the device (``--precision``, default fp16), MP/s of input pixels,
   and the peak GPU memory of that loop;
3. end to end: ``pathrobust segment SLIDE --method psm --device cuda --precision fp16
   --workers N`` in a child process: wall seconds, MP/s over all pixels and over
   tissue pixels, peak RSS, peak GPU memory (sampled with nvidia-smi);
4. agreement: labels of a few tiles with the device (fp16) against the CPU (fp32):
   AJI between the two label sets (the stated tolerance is >= 0.99);
5. CPU-only scale-out: the same command with ``--device cpu`` on a SCALE_SIZE slide,
   on a LocalCluster of 1, 2, 4, 8 single-thread worker processes (``--scheduler``):
   seconds, MP/s and speed-up over 1 worker.

Needs the project's environment (torch with CUDA, dask.distributed); the MoNuSeg tiles
beside the repository are used for step 4 when present, else synthetic tiles.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _harness import DATA, ome_rgb_attrs, run_segment, synthetic_pool
from scale import CHUNK, _is_tissue, run_on_cluster

ROWS: list[tuple[str, str, str]] = []


def row(step: str, what: str, value: str) -> None:
    ROWS.append((step, what, value))
    print(f"| {step} | {what} | {value} |", flush=True)


def write_slide(path: Path, size: int, pool: list[np.ndarray], threads: int) -> float:
    """scale.py's tissue-disc slide, chunks written in parallel; tissue fraction."""
    import zarr

    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    arr = root.create_array("0", shape=(size, size, 3), chunks=(CHUNK, CHUNK, 3),
                            dtype="uint8")
    n = -(-size // CHUNK)
    glass = np.full((CHUNK, CHUNK, 3), 244, np.uint8)

    def write_row(ty: int) -> int:
        tissue = 0
        for tx in range(n):
            h, w = min(CHUNK, size - ty * CHUNK), min(CHUNK, size - tx * CHUNK)
            inside = _is_tissue(ty, tx, n)
            block = np.rot90(pool[(ty * 7 + tx * 3) % len(pool)], (ty + tx) % 4) \
                if inside else glass
            arr[ty * CHUNK:ty * CHUNK + h, tx * CHUNK:tx * CHUNK + w] = block[:h, :w]
            tissue += h * w * inside
        return tissue

    with ThreadPoolExecutor(threads) as pool_exec:
        tissue = sum(pool_exec.map(write_row, range(n)))
    root.attrs["ome"] = ome_rgb_attrs()
    return tissue / size ** 2


class GpuMemory:
    """Peak used GPU memory (MiB) sampled with nvidia-smi while the block runs."""

    def __init__(self, period: float = 0.5):
        self.period, self.peak, self._stop = period, 0, threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used",
                                      "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout
                self.peak = max([self.peak, *(int(v) for v in out.split() if v.isdigit())])
            except (OSError, subprocess.SubprocessError):
                return
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def network_throughput(device: str, precision: str, tile: int, batch: int,
                       seconds: float) -> None:
    import torch

    from napari_pathrobust.engine.registry import get_method

    method = get_method("psm", device=device, maps=False, precision=precision)
    x = torch.rand(batch, 3, tile, tile, device=method.device)
    sync = torch.cuda.synchronize if method.device.type == "cuda" else (lambda: None)
    if method.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    method._network(x)  # warm-up (cuDNN autotune, ONNX export on the CPU)
    sync()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        method._network(x)
        n += 1
    sync()
    mps = n * batch * tile * tile / 1e6 / (time.perf_counter() - start)
    row("2 network", f"{batch} x {tile}^2 tiles, {device} {precision}, "
        f"{method.runner.describe()}", f"{mps:.1f} MP/s")
    if method.device.type == "cuda":
        row("2 network", "peak GPU memory (torch)",
            f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


def end_to_end(src: Path, out: Path, size: int, tissue: float, extra: list[str],
               label: str) -> None:
    with GpuMemory() as gpu:
        res = run_segment(src, out, ["--labels-format", "zarr", "--method", "psm", *extra])
    mp = size * size / 1e6
    run = res["run"]
    row("3 end to end", f"{label}: {size}^2 slide, tile {run.get('tile')}, "
        f"processed {run.get('fraction_processed', 1):.2f}, {run['n_nuclei']} nuclei",
        f"{res['seconds']:.1f} s, {mp / res['seconds']:.1f} MP/s "
        f"({mp * tissue / res['seconds']:.1f} tissue MP/s), peak RSS "
        f"{res['peak_mb']:.0f} MB, peak GPU {gpu.peak} MiB")


def agreement(device: str, precision: str, n_tiles: int, side: int) -> None:
    from _harness import segment_whole

    from napari_pathrobust.engine.metrics import evaluate
    from napari_pathrobust.engine.registry import get_method
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    paths = sorted((DATA / "images").glob("*.tif"))[:n_tiles]
    if paths:
        import tifffile

        tiles = [tifffile.imread(p)[:side, :side, :3] for p in paths]
    else:
        tiles = [synthetic_he_tile(shape=(side, side), seed=s)[0] for s in range(n_tiles)]
    ajis = []
    for rgb in tiles:
        rgb = np.ascontiguousarray(rgb)
        dev = segment_whole(rgb, get_method("psm", device=device, maps=False,
                                            precision=precision)).astype(np.int64)
        cpu = segment_whole(rgb, get_method("psm", device="cpu", maps=False,
                                            precision="fp32")).astype(np.int64)
        ajis.append(evaluate(cpu, dev)["aji"] if cpu.max() else float(dev.max() == 0))
    row("4 agreement", f"AJI {device} {precision} vs cpu fp32, {len(tiles)} tiles of "
        f"{side}^2 ({'MoNuSeg' if paths else 'synthetic'})",
        f"min {min(ajis):.4f} / mean {np.mean(ajis):.4f}")


def scale_out(src: Path, work: Path, size: int, workers: list[int]) -> None:
    first = None
    for n in workers:
        res = run_on_cluster(src, work / f"cpu-{n}", ["--method", "psm", "--device", "cpu",
                                                      "--labels-format", "zarr"], n)
        first = first or res["seconds"]
        row("5 scale-out", f"cpu, {n} dask worker process(es) x 1 thread, {size}^2",
            f"{res['seconds']:.1f} s, {size * size / 1e6 / res['seconds']:.2f} MP/s, "
            f"{first / res['seconds']:.2f}x vs {workers[0]}, {res['nuclei']} nuclei")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (checks the script)")
    ap.add_argument("--size", type=int, default=32000)
    ap.add_argument("--scale-size", type=int, default=8192)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--precision", default=None, help="default: fp16 on cuda, fp32 on cpu")
    ap.add_argument("--gpu-workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--skip", nargs="*", default=[], choices=["network", "e2e", "agree",
                                                               "scale"])
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    precision = args.precision or ("fp16" if device.startswith("cuda") else "fp32")
    if args.smoke:
        args.size, args.scale_size, args.workers = 2048, 1024, args.workers[:2]
        args.tile, args.batch = 256, 2
    work = Path(args.workdir or tempfile.mkdtemp(prefix="pathrobust-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"machine: {gpu}, {os.cpu_count()} CPUs, load {load[0]:.2f}, torch "
          f"{torch.__version__}, device {device} {precision}\n", flush=True)
    print("| step | what | result |\n|---|---|---|", flush=True)
    start = time.perf_counter()
    pool = synthetic_pool(CHUNK)
    src = work / f"slide{args.size}.ome.zarr"
    tissue = write_slide(src, args.size, pool, os.cpu_count() or 1)
    row("1 slide", f"{args.size}^2 OME-Zarr, tissue {tissue:.2f}",
        f"written in {time.perf_counter() - start:.0f} s")
    if "network" not in args.skip:
        network_throughput(device, precision, args.tile, args.batch, 5 if args.smoke else 20)
    if "e2e" not in args.skip:
        end_to_end(src, work / "e2e", args.size, tissue,
                   ["--device", device, "--precision", precision,
                    "--workers", str(args.gpu_workers)], f"{device} {precision}")
    if "agree" not in args.skip:
        agreement(device, precision, 2 if args.smoke else 4, 512 if args.smoke else 1000)
    if "scale" not in args.skip:
        small = work / f"slide{args.scale_size}.ome.zarr"
        write_slide(small, args.scale_size, pool, os.cpu_count() or 1)
        scale_out(small, work, args.scale_size, args.workers)
    print(f"\nall steps: {time.perf_counter() - start:.0f} s (slides in {work})\n")
    print("| step | what | result |\n|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
