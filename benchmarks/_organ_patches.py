"""Organ-of-origin patch classification built from MoNuSeg *images/* only.

The organ comes from the TCGA tissue-source-site (TSS) code in each file name (the two
characters after ``TCGA-``), mapped from the public TCGA TSS code table; no label or
mask file is read. Patches are cut on a grid, described by a fixed hand-made feature
vector (stain/colour statistics and grey-level texture), and cached as ``.npz``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

# TCGA tissue source site -> organ (TCGA project). MoNuSeg's papers call the lung
# slides (LUAD/LUSC sites 18, 21, 38, 49, 50) "liver"; the TCGA codes say lung.
TSS_ORGAN = {
    "18": "lung", "21": "lung", "38": "lung", "49": "lung", "50": "lung",  # LUSC/LUAD
    "A7": "breast", "AR": "breast", "E2": "breast",                        # BRCA
    "B0": "kidney", "HE": "kidney",                                        # KIRC, KIRP
    "CH": "prostate", "G9": "prostate",                                    # PRAD
    "DK": "bladder", "G2": "bladder",                                      # BLCA
    "AY": "colon", "NH": "colon",                                          # COAD
    "KB": "stomach", "RD": "stomach",                                      # STAD
}
# Organs with six source slides each (the others have two: too few to split by slide).
ORGANS = ("breast", "kidney", "lung", "prostate")
FEATURE_VERSION = "v1"


def organ_of(path: Path) -> str | None:
    """Organ of a MoNuSeg image from the TSS code in its TCGA file name."""
    parts = path.stem.split("-")
    return TSS_ORGAN.get(parts[1]) if len(parts) > 2 and parts[0] == "TCGA" else None


def patch_features(rgb: np.ndarray) -> np.ndarray:
    """Fixed feature vector of one RGB uint8 patch (stain statistics + texture)."""
    from skimage.color import rgb2hed
    from skimage.feature import graycomatrix, graycoprops

    hed = rgb2hed(rgb)
    feats = []
    for ch in (hed[..., 0], hed[..., 1], rgb[..., 0] / 255.0, rgb[..., 1] / 255.0,
               rgb[..., 2] / 255.0):
        feats += [ch.mean(), ch.std(), *np.percentile(ch, (10, 50, 90))]
    h = hed[..., 0]
    q = np.clip((h - h.min()) / (np.ptp(h) + 1e-9) * 15, 0, 15).astype(np.uint8)
    glcm = graycomatrix(q, distances=(1, 3, 6), angles=(0, np.pi / 2), levels=16,
                        symmetric=True, normed=True)
    for prop in ("contrast", "homogeneity", "energy", "correlation"):
        feats += list(graycoprops(glcm, prop).mean(1))
    feats.append(float((h > np.percentile(h, 75) + 0.02).mean()))
    return np.asarray(feats, dtype=np.float32)


def build_patches(image_dir: Path, cache: Path, patch: int = 80, stride: int = 80):
    """Features ``X``, organ ids ``y`` and source-slide ids ``slide`` (cached ``.npz``)."""
    import tifffile

    files = sorted(p for p in Path(image_dir).glob("*.tif") if organ_of(p) in ORGANS)
    if not files:
        raise SystemExit(f"{image_dir}: no MoNuSeg images of {ORGANS}")
    key = hashlib.sha1(("|".join(p.name for p in files)
                        + f"{patch}/{stride}/{FEATURE_VERSION}").encode()).hexdigest()[:10]
    path = Path(cache) / f"organ_patches_{key}.npz"
    if path.exists():
        z = np.load(path)
        return z["X"], z["y"], z["slide"]
    xs, ys, slides = [], [], []
    for s, f in enumerate(files):
        img = tifffile.imread(f)[..., :3]
        for r in range(0, img.shape[0] - patch + 1, stride):
            for c in range(0, img.shape[1] - patch + 1, stride):
                xs.append(patch_features(img[r:r + patch, c:c + patch]))
                ys.append(ORGANS.index(organ_of(f)))
                slides.append(s)
    X, y, slide = np.stack(xs), np.asarray(ys), np.asarray(slides)
    Path(cache).mkdir(parents=True, exist_ok=True)
    np.savez(path, X=X, y=y, slide=slide)
    return X, y, slide


def slide_split(y: np.ndarray, slide: np.ndarray, n_test_slides: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Train / test patch indices with whole slides held out per organ (no leakage)."""
    test_slides = []
    for c in np.unique(y):
        own = np.unique(slide[y == c])
        test_slides += list(rng.choice(own, size=n_test_slides, replace=False))
    test = np.isin(slide, test_slides)
    return np.flatnonzero(~test), np.flatnonzero(test)
