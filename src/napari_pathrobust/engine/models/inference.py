"""Fast inference of a trained network: folded batch norm, ONNX Runtime on the CPU.

:class:`NetworkRunner` turns ``(B, 3, H, W)`` inputs into sigmoid outputs. On the CPU in
fp32 it runs, by order of preference (measured side by side by
``benchmarks/bench_cpu_inference.py``, docs/benchmarks.md):

* ``onnxruntime``: the network with batch norm folded into the convolutions, exported
  to ONNX in memory and run by ONNX Runtime (a dependency; when it cannot be imported
  the torch runtime is used); 1.3-1.6x faster than torch eager on a 2-core CPU,
  outputs within ~2e-6 of torch's (identical labels on train-13);
* ``torch``: the folded network under ``torch.inference_mode`` (the fallback, always
  available; the only runtime on GPUs and for reduced precision, via autocast).

Network calls on the CPU are serialised by a lock and each uses every core the process
may use: one tile's network is then as fast as it can be, and pipeline workers overlap
their post-processing with the next tile's network.
"""

from __future__ import annotations

import copy
import functools
import io
import os
import threading
import time
from typing import Optional

import torch
from torch import nn

RUNTIMES = ("auto", "torch", "onnxruntime")


def cpu_count() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """An eval-mode copy of ``net`` whose Conv2d -> BatchNorm2d pairs (consecutive in an
    ``nn.Sequential``) are one biased convolution (same outputs up to rounding)."""
    net = copy.deepcopy(net).eval()
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        layers, out, i = list(seq), [], 0
        while i < len(layers):
            conv = layers[i]
            bn = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) \
                    and bn.track_running_stats:
                out.append(_fused(conv, bn))
                i += 2
            else:
                out.append(conv)
                i += 1
        if len(out) != len(layers):
            for name in list(seq._modules):
                del seq._modules[name]
            for j, layer in enumerate(out):
                seq.add_module(str(j), layer)
    return net


@torch.no_grad()
def _fused(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    fused = copy.deepcopy(conv)  # no re-initialisation: weights are overwritten
    if fused.bias is None:
        fused.bias = nn.Parameter(torch.empty_like(bn.running_mean))
    scale = (bn.weight if bn.affine else torch.ones_like(bn.running_var)) \
        / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    fused.bias.copy_((bias - bn.running_mean) * scale + shift)
    return fused.eval()


def onnxruntime_available() -> bool:
    """Whether ONNX Runtime (and the ONNX exporter's dependency) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _export_onnx(net: nn.Module, channels: int = 3) -> bytes:
    """The network as an ONNX graph with dynamic batch and spatial sides."""
    import warnings

    x = torch.zeros(1, channels, 64, 64)
    buf = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, x, buf, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": axes, "y": axes}, opset_version=17,
                          dynamo=False)
    return buf.getvalue()


def weights_key(net: nn.Module) -> str:
    """Hash of a network's parameters and buffers (identifies exported graphs)."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


_GRAPHS: dict[str, bytes] = {}  # weights key -> ONNX graph (exported once per process)
#: inputs up to this many pixels run in a session with a memory arena (faster); larger
#: ones (fit mosaics, whole-slide tiles) in one that frees each call. The arena is shrunk
#: after each call: kept, its ~0.7 GB at 1 MP stayed on top of the large session's
#: memory for the rest of a whole-slide run (issue 27); outputs are the same bits
ARENA_MAX_PIXELS = 1 << 20


@functools.lru_cache(maxsize=1)
def _shrink_arena():
    import onnxruntime as ort

    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


@functools.lru_cache(maxsize=8)
def _ort_session(key: str, threads: int, arena: bool):
    import onnxruntime as ort

    graph = _GRAPHS[key]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = arena
    options.enable_mem_pattern = not arena  # measured fastest and leanest this way
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


class NetworkRunner:
    """Sigmoid outputs of a network for ``(B, C, H, W)`` inputs (see module docstring).

    ONNX graphs and sessions are built once per process per weights and thread count
    and reused by later runners; ``amp_dtype`` (autocast) forces torch.
    """

    def __init__(self, net: nn.Module, device: torch.device, runtime: str = "auto",
                 amp_dtype: Optional[torch.dtype] = None,
                 threads: Optional[int] = None):
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
        self.device = torch.device(device)
        self.amp_dtype = amp_dtype
        self.net = fold_batchnorm(net).to(self.device)
        cpu_fp32 = self.device.type == "cpu" and amp_dtype is None
        if runtime == "onnxruntime" and not cpu_fp32:
            raise ValueError("runtime 'onnxruntime' runs fp32 on the CPU only")
        if runtime == "onnxruntime" and not onnxruntime_available():
            raise ValueError("runtime 'onnxruntime' is not installed: "
                             "pip install onnxruntime onnx")
        self.runtime = "onnxruntime" if cpu_fp32 and runtime != "torch" and \
            onnxruntime_available() else "torch"
        self.threads = max(1, int(threads or torch.get_num_threads()))
        self.key = weights_key(self.net) if self.runtime == "onnxruntime" else ""
        self._lock = threading.Lock()

    def _onnx(self, x: torch.Tensor) -> torch.Tensor:
        key = f"{self.key}:{x.shape[1]}"
        if key not in _GRAPHS:
            _GRAPHS[key] = _export_onnx(self.net, x.shape[1])
        arena = x.shape[0] * x.shape[2] * x.shape[3] <= ARENA_MAX_PIXELS
        session = _ort_session(key, self.threads, arena)
        out = session.run(None, {"x": x.numpy()}, _shrink_arena() if arena else None)[0]
        return torch.sigmoid(torch.from_numpy(out))

    def _torch(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(
                self.device.type, dtype=self.amp_dtype or torch.float32,
                enabled=self.amp_dtype is not None):
            return torch.sigmoid(self.net(x)).float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        try:
            if self.device.type != "cpu":
                return self._torch(x)
            with self._lock:
                start = time.perf_counter()  # the network's own time, not the wait
                if self.runtime == "onnxruntime":
                    return self._onnx(x.contiguous())
                if torch.get_num_threads() != self.threads:
                    torch.set_num_threads(self.threads)
                return self._torch(x)
        finally:
            _count(time.perf_counter() - start, x.shape[0] * x.shape[2] * x.shape[3])

    def describe(self) -> str:
        """The runtime in use, e.g. ``onnxruntime`` or ``torch``."""
        return self.runtime


_STATS = [0.0, 0, 0]  # network seconds, calls, input pixels in this process
_STATS_LOCK = threading.Lock()


def _count(seconds: float, pixels: int) -> None:
    with _STATS_LOCK:
        _STATS[0] += seconds
        _STATS[1] += 1
        _STATS[2] += int(pixels)


def network_stats() -> tuple[float, int, int]:
    """(seconds, calls, input pixels) of every network call in this process so far
    (subtract two readings for a run's share; GPU calls time their launch)."""
    with _STATS_LOCK:
        return float(_STATS[0]), int(_STATS[1]), int(_STATS[2])


_RUNNERS: dict[tuple, NetworkRunner] = {}


def cached_runner(net: nn.Module, device: torch.device, runtime: str = "auto",
                  amp_dtype: Optional[torch.dtype] = None, threads: Optional[int] = None,
                  weights_id: Optional[str] = None) -> NetworkRunner:
    """A :class:`NetworkRunner`; with ``weights_id`` (e.g. the weight file's SHA-256 for
    a network as loaded) one per process and settings, reused by later methods."""
    if not weights_id:
        return NetworkRunner(net, device, runtime, amp_dtype, threads)
    key = (weights_id, str(device), runtime, amp_dtype, threads or torch.get_num_threads())
    if key not in _RUNNERS:
        if len(_RUNNERS) >= 8:
            _RUNNERS.pop(next(iter(_RUNNERS)))
        _RUNNERS[key] = NetworkRunner(net, device, runtime, amp_dtype, threads)
    return _RUNNERS[key]


__all__ = ["NetworkRunner", "cached_runner", "fold_batchnorm", "onnxruntime_available", "RUNTIMES",
           "cpu_count", "weights_key", "network_stats"]
