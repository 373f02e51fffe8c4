"""Sample data contributions: the bundled H&E demo crop and a synthetic tile."""

from __future__ import annotations

from ._resources import DEMO_IMAGE, DEMO_MPP, resource_path


def demo_crop():
    """The 512x512 TCGA H&E demo crop as an RGB Image layer."""
    from .engine.io import open_image

    slide = open_image(resource_path(DEMO_IMAGE))
    um = DEMO_MPP
    return [(slide.data.compute(), {"name": "demo_he_crop", "rgb": True,
                                    "scale": (um, um), "units": ("um", "um"),
                                    "metadata": {"mpp": um, "source": "TCGA-18-5592-01Z-00-DX1"}},
             "image")]


def synthetic_tile():
    """A seeded synthetic H&E-like tile plus its exact nucleus labels."""
    from .engine.synthetic import synthetic_he_tile

    rgb, labels = synthetic_he_tile(shape=(512, 512), seed=0)
    return [(rgb, {"name": "synthetic_he", "rgb": True}, "image"),
            (labels, {"name": "synthetic_he_truth", "opacity": 0.4}, "labels")]
