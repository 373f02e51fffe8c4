"""Elementary functions that give the same bits on every machine, array length and device.

numpy's and torch's ``exp``/``log``/``pow``/``sin``/``cos``/``tanh`` and matrix products
take code paths chosen by the CPU (SVML, SLEEF, MKL VML, BLAS kernels), and torch ends
an array's tail on a scalar path, so their last bit depends on the machine, on the
array's length and on where a value sits in it; a value rounded to uint8 or compared
to a threshold afterwards can then flip between a tile and the whole image. The
functions here use only IEEE-754 operations that are correctly rounded everywhere
(+, -, *, /, floor, comparisons, exponent bits), one per array call (no fused
multiply-add), in float64: each is a fixed function of its input, on numpy arrays and
torch tensors (CPU or GPU) alike. Accuracy: a few float64 ulp; ``sin``/``cos``
arguments up to about 1e6.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

# constants as literals (parsed exactly), not from the platform's libm
_INV_LN2 = 1.4426950408889634
_LN10 = 2.302585092994046
_INV_LN10 = 0.4342944819032518
_TWO_OVER_PI = 0.6366197723675814
_SQRT_HALF = 0.7071067811865476
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_PIO2 = (1.57079632673412561417e+00, 6.07710050630396597660e-11,
         2.02226624871116645580e-21)  # pi / 2 in three parts (Cody-Waite)
_EXP_C = [1.0 / math.factorial(n) for n in range(14)]  # |r| <= ln2 / 2: error < 1e-17
_LOG_C = [1.0 / (2 * n + 1) for n in range(12)]  # atanh series, z = s^2 <= 0.0295
_SIN_C = [(-1.0) ** n / math.factorial(2 * n + 1) for n in range(9)]  # |r| <= pi / 4
_COS_C = [(-1.0) ** n / math.factorial(2 * n) for n in range(10)]


class _Numpy:
    floor = staticmethod(np.floor)
    where = staticmethod(np.where)
    abs = staticmethod(np.abs)
    clip = staticmethod(np.clip)

    @staticmethod
    def f64(x):
        return np.asarray(x, np.float64)

    @staticmethod
    def frexp(x):
        m, e = np.frexp(x)
        return m, e.astype(np.float64)

    @staticmethod
    def ldexp(x, k):
        return np.ldexp(x, k.astype(np.int32))

    @staticmethod
    def to_int(x):
        return x.astype(np.int64)

    @staticmethod
    def to_float(b):
        return b.astype(np.float64)


class _Torch:
    def __init__(self):
        import torch

        self.t = torch
        self.floor, self.where, self.abs = torch.floor, torch.where, torch.abs
        self.clip = torch.clamp

    def f64(self, x):
        return x.to(self.t.float64)

    def frexp(self, x):
        m, e = self.t.frexp(x)
        return m, e.to(self.t.float64)

    def ldexp(self, x, k):  # torch.ldexp multiplies by pow(2, k): build 2 ** k from bits
        return x * ((k.to(self.t.int64) + 1023) << 52).view(self.t.float64)

    def to_int(self, x):
        return x.to(self.t.int64)

    def to_float(self, b):
        return b.to(self.t.float64)


_NP = _Numpy()


@lru_cache(maxsize=1)
def _torch_api() -> _Torch:
    return _Torch()


def _api(x):
    return _torch_api() if type(x).__module__.startswith("torch") else _NP


def _horner(coeffs, z):
    p = z * coeffs[-1]
    p += coeffs[-2]
    for c in reversed(coeffs[:-2]):
        p *= z
        p += c
    return p


def exp(x):
    """e ** x (float64; arguments are clamped to [-700, 700])."""
    a = _api(x)
    x = a.clip(a.f64(x), -700.0, 700.0)
    k = a.floor(x * _INV_LN2 + 0.5)
    r = x - k * _LN2_HI
    r -= k * _LN2_LO
    return a.ldexp(_horner(_EXP_C, r), k)  # * 2 ** k, exact


def log(x):
    """Natural logarithm of positive normal float64 values (float64)."""
    a = _api(x)
    m, k = a.frexp(a.f64(x))  # x = m 2^k, m in [0.5, 1)
    low = a.to_float(m < _SQRT_HALF)
    m = m * (low + 1.0)  # in [sqrt(1/2), sqrt(2)): exact
    k -= low
    s = (m - 1.0) / (m + 1.0)  # log m = 2 atanh(s)
    p = _horner(_LOG_C, s * s) * s
    p *= 2.0
    return k * _LN2_HI + (k * _LN2_LO + p)


def exp10(x):
    """10 ** x (float64)."""
    return exp(_api(x).f64(x) * _LN10)


def log10(x):
    """Base-10 logarithm of positive values (float64)."""
    return log(x) * _INV_LN10


def power(x, y):
    """x ** y for positive ``x`` (float64)."""
    return exp(log(x) * y)


def sincos(x):
    """(sin x, cos x) in float64."""
    a = _api(x)
    x = a.f64(x)
    k = a.floor(x * _TWO_OVER_PI + 0.5)
    r = x - k * _PIO2[0]
    r -= k * _PIO2[1]
    r -= k * _PIO2[2]
    z = r * r
    s = _horner(_SIN_C, z) * r
    c = _horner(_COS_C, z)
    q = a.to_int(k) & 3
    sin = a.where(q == 0, s, a.where(q == 1, c, a.where(q == 2, -s, -c)))
    cos = a.where(q == 0, c, a.where(q == 1, -s, a.where(q == 2, -c, s)))
    return sin, cos


def tanh(x):
    """Hyperbolic tangent (float64)."""
    a = _api(x)
    x = a.f64(x)
    t = exp(a.abs(x) * -2.0)
    y = (1.0 - t) / (1.0 + t)
    return a.where(x < 0, -y, y)


def exact_inverse(m) -> np.ndarray:
    """Inverse of a small float64 matrix in exact rational arithmetic, rounded once
    (LAPACK's result depends on the CPU's BLAS kernels)."""
    a = [[Fraction(float(v)) for v in row] for row in np.asarray(m, np.float64)]
    n = len(a)
    inv = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    for col in range(n):
        piv = next(r for r in range(col, n) if a[r][col] != 0)
        a[col], a[piv], inv[col], inv[piv] = a[piv], a[col], inv[piv], inv[col]
        f = a[col][col]
        a[col] = [v / f for v in a[col]]
        inv[col] = [v / f for v in inv[col]]
        for r in range(n):
            if r != col and a[r][col] != 0:
                g = a[r][col]
                a[r] = [v - g * w for v, w in zip(a[r], a[col])]
                inv[r] = [v - g * w for v, w in zip(inv[r], inv[col])]
    return np.array([[float(v) for v in row] for row in inv], np.float64)


def linear3(channels, m, out_channel: int):
    """``sum_c channels[c] * m[c, out_channel]`` for three arrays, in a fixed order of
    float64 operations (a matrix product's order depends on its BLAS kernel)."""
    w = np.asarray(m, np.float64)[:, out_channel]
    acc = channels[0] * float(w[0])
    acc += channels[1] * float(w[1])
    acc += channels[2] * float(w[2])
    return acc
