"""Per-pixel corruptions, Reinhard normalisation and H-DAB unmixing are exact functions of
each pixel: the same bits whole or tiled, for any array length (SIMD body or tail), in
a batch or alone, and on another machine (emulated: generic CPU code paths)."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from napari_pathrobust.engine import detmath
from napari_pathrobust.engine.adapt.stain_norm import (
    ReinhardNormaliser,
    lab_to_rgb,
    rgb_to_lab,
)
from napari_pathrobust.engine.corrupt import (
    available_corruptions,
    corrupt,
    corrupt_batch,
    get_corruption,
    iter_tiles,
)
from napari_pathrobust.engine.corrupt.fields import Context
from napari_pathrobust.engine.corrupt.tiled import to_tensor
from napari_pathrobust.engine.ihc.detection import hdab_channels
from napari_pathrobust.engine.tiled.tiling import plan_tiles

#: kinds that read no context: each output pixel is a function of its input pixel
PER_PIXEL = [k for k in available_corruptions() if get_corruption(k).apply is not None
             and get_corruption(k).halo(get_corruption(k).params(5)) == 0]
H, W = 40, 150
CPU = torch.device("cpu")


def make_image(h: int = H, w: int = W) -> np.ndarray:
    """Random colours above, noisy H&E-like ones below (integers only: the same input on
    every machine)."""
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    palette = np.array([[240, 238, 242], [214, 140, 184], [150, 80, 160], [70, 40, 120],
                        [120, 70, 40], [0, 0, 0], [255, 255, 255]], np.int64)
    low = palette[rng.integers(0, len(palette), (h - h // 2, w))]
    img[h // 2:] = np.clip(low + rng.integers(-12, 13, low.shape), 0, 255)
    return img


@pytest.fixture(scope="module")
def image():
    return make_image()


def apply_float(kind: str, img: np.ndarray, box, seed: int = 3, severity: int = 5):
    """The float output of ``kind`` on the window ``box`` (what is rounded to uint8)."""
    spec = get_corruption(kind)
    y0, x0, y1, x1 = box
    x = to_tensor(img[None, y0:y1, x0:x1], CPU)
    with torch.no_grad():
        return spec.apply(x, spec.params(severity), Context((seed,), (y0, x0), img.shape[:2],
                                                            CPU))


def boxes(h: int = H, w: int = W):
    """1 x n strips (n = 1..67) at odd offsets, then odd-sized tiles at odd offsets."""
    for n in range(1, 68):
        y, x0 = (3 * n) % h, (5 * n + 1) % (w - n)
        yield y, x0, y + 1, x0 + n
    for y0 in range(1, h, 11):
        for x0 in range(2, w, 29):
            yield y0, x0, min(y0 + 11, h), min(x0 + 29, w)


@pytest.mark.parametrize("kind", PER_PIXEL)
def test_per_pixel_kinds_are_bit_exact_in_every_window(kind, image):
    whole = apply_float(kind, image, (0, 0, H, W))
    for y0, x0, y1, x1 in boxes():
        part = apply_float(kind, image, (y0, x0, y1, x1))
        assert torch.equal(part, whole[..., y0:y1, x0:x1]), (kind, (y0, x0, y1, x1))
    # and through the public uint8 path, tiled with an odd tile size
    full = corrupt(image, kind, 5, seed=3, device="cpu")
    for b in iter_tiles((H, W), 17):
        np.testing.assert_array_equal(corrupt(image, kind, 5, seed=3, device="cpu", box=b),
                                      full[b.slices])


@pytest.mark.parametrize("kind", PER_PIXEL)
def test_a_pixel_alone_equals_the_pixel_inside_a_large_array(kind, image):
    big = np.tile(image, (1, 9, 1))  # 40 x 1350: long SIMD runs
    whole = apply_float(kind, big, (0, 0, *big.shape[:2]))
    rng = np.random.default_rng(1)
    for y, x in zip(rng.integers(0, big.shape[0], 25), rng.integers(0, big.shape[1], 25)):
        alone = apply_float(kind, big, (y, x, y + 1, x + 1))
        assert torch.equal(alone, whole[..., y:y + 1, x:x + 1]), (kind, y, x)


@pytest.mark.parametrize("kind", PER_PIXEL)
def test_per_pixel_batch_equals_single_images_exactly(kind):
    imgs = np.stack([make_image(24, 33), make_image(24, 33)[::-1].copy()])
    batch = corrupt_batch(imgs, kind, 4, seeds=[5, 6], device="cpu")
    for i, s in enumerate((5, 6)):
        np.testing.assert_array_equal(batch[i], corrupt(imgs[i], kind, 4, seed=s, device="cpu"))


FUNCS = {"exp": detmath.exp, "log": detmath.log, "log10": detmath.log10,
         "exp10": detmath.exp10, "tanh": detmath.tanh,
         "sin": lambda v: detmath.sincos(v)[0], "cos": lambda v: detmath.sincos(v)[1],
         "pow": lambda v: detmath.power(v, 1.37)}
REFERENCE = {"exp": np.exp, "log": np.log, "log10": np.log10, "exp10": lambda v: 10.0 ** v,
             "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "pow": lambda v: v ** 1.37}


def _arguments(name: str) -> np.ndarray:
    rng = np.random.default_rng(2)
    if name in ("log", "log10", "pow"):  # (np.exp would differ between machines)
        return np.ldexp(rng.uniform(0.5, 1.0, 4001), rng.integers(-40, 40, 4001))
    if name in ("sin", "cos"):
        return rng.uniform(-3e4, 3e4, 4001)
    return rng.uniform(-25, 25, 4001)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_detmath_is_accurate_and_identical_on_numpy_torch_any_length(name):
    f, v = FUNCS[name], _arguments(name)
    ref = f(v)
    # exp10 and pow round their argument to exp first: relative error ~ |arg| ulp
    rtol = 3e-14 if name in ("exp10", "pow") else 2e-15
    atol = 2e-16 * (np.abs(v).max() if name in ("sin", "cos") else 1.0)
    np.testing.assert_allclose(ref, REFERENCE[name](v), rtol=rtol, atol=atol)
    assert np.array_equal(f(torch.from_numpy(v)).numpy(), ref)
    for n in range(1, 68):
        for off in (0, 1, 7):
            assert np.array_equal(f(v[off:off + n]), ref[off:off + n]), (name, n, off)
            assert np.array_equal(f(torch.from_numpy(v[off:off + n])).numpy(), ref[off:off + n])
    assert np.array_equal(f(v[::3]), ref[::3])  # strided
    assert all(f(float(a)) == b for a, b in zip(v[:20], ref[:20]))  # scalars


def test_exact_inverse():
    m = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
    np.testing.assert_allclose(m @ detmath.exact_inverse(m), np.eye(3), atol=1e-15)


def test_reinhard_is_exact_in_every_window(image):
    norm = ReinhardNormaliser(source=((-0.45, 0.25), (-0.05, 0.05), (0.03, 0.02)))
    lab, out = rgb_to_lab(image), norm(image)
    for y0, x0, y1, x1 in boxes():
        win = image[y0:y1, x0:x1]
        assert np.array_equal(rgb_to_lab(win), lab[y0:y1, x0:x1])
        assert np.array_equal(norm(win), out[y0:y1, x0:x1])
    assert np.abs(lab_to_rgb(lab).astype(int) - image).max() <= 1


def test_hdab_unmixing_is_exact_in_every_window(image):
    hema, dab = hdab_channels(image)
    for y0, x0, y1, x1 in boxes():
        h, d = hdab_channels(image[y0:y1, x0:x1])
        assert np.array_equal(h, hema[y0:y1, x0:x1]) and np.array_equal(d, dab[y0:y1, x0:x1])


def test_iter_tiles_are_the_plan_tiles_cores():
    for shape, tile in (((200, 232), 64), ((7, 5), 3), ((64, 64), 64), ((1, 9), 4)):
        assert list(iter_tiles(shape, tile)) == [t.core for t in plan_tiles(shape, tile, 0)]


def fingerprints() -> dict:
    """sha256 of the float outputs of every per-pixel kind, of jpeg, Reinhard and
    detmath."""
    img = make_image()
    out = {}
    for kind in PER_PIXEL:
        out[kind] = apply_float(kind, img, (0, 0, H, W)).numpy().tobytes()
    out["jpeg"] = corrupt(img, "jpeg", 5, seed=3, device="cpu").tobytes()
    norm = ReinhardNormaliser(source=((-0.45, 0.25), (-0.05, 0.05), (0.03, 0.02)))
    out["reinhard_lab"] = rgb_to_lab(img).tobytes()
    out["reinhard"] = norm(img).tobytes()
    for name, f in FUNCS.items():
        out[name] = f(torch.from_numpy(_arguments(name))).numpy().tobytes()
    return {k: hashlib.sha256(v).hexdigest() for k, v in out.items()}


def _generic_cpu_env() -> dict:
    """Environment that sends torch, MKL, OpenBLAS, numpy and libjpeg-turbo down their
    generic (non-AVX2/AVX-512) code paths: another machine, as far as this one can be."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default", MKL_ENABLE_INSTRUCTIONS="SSE4_2",
               MKL_CBWR="COMPATIBLE", OPENBLAS_CORETYPE="Prescott", JSIMD_FORCENONE="1")
    try:
        umath = np._core._multiarray_umath
        have = {k for k, v in umath.__cpu_features__.items() if v}
        dispatch = [f for f in umath.__cpu_dispatch__ if f in have]
        if dispatch:
            env["NPY_DISABLE_CPU_FEATURES"] = ",".join(dispatch)
    except AttributeError:
        pass
    return env


def test_same_bits_with_generic_cpu_code_paths():
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import test_corrupt_exact as t;"
            " print(json.dumps(t.fingerprints()))")
    run = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)],
                         env=_generic_cpu_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    other = json.loads(run.stdout.strip().splitlines()[-1])
    here = fingerprints()
    assert other == here, sorted(k for k in here if other.get(k) != here[k])
