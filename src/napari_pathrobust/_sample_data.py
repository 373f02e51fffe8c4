"""Sample data contributions: the bundled H&E demo crop, an IHC image, a synthetic tile."""

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


def ihc_sample():
    """scikit-image's IHC image (``skimage.data.immunohistochemistry``) as an RGB layer.

    Colonic glands, the FHL2 protein revealed with DAB (brown, mostly cytoplasmic) and a
    hematoxylin counterstain (blue nuclei); 512 x 512 px, acquired at the Center for
    Microscopy And Molecular Imaging (CMMI), no known copyright restrictions. Its pixel
    size is not published: no ``mpp`` is set, so the methods assume their working size
    (0.25 um/px) and say so; the nuclei suggest a coarser scan (roughly 0.5 um/px).
    """
    from skimage.data import immunohistochemistry

    return [(immunohistochemistry(), {
        "name": "ihc_sample", "rgb": True,
        "metadata": {"stain": "ihc", "mpp": None,
                     "pixel_size": "unknown (not published; roughly 0.5 um/px)",
                     "source": "scikit-image data.immunohistochemistry (CMMI), FHL2 "
                               "DAB + hematoxylin"}}, "image")]


def synthetic_tile():
    """A seeded synthetic H&E-like tile plus its exact nucleus labels."""
    from .engine.synthetic import synthetic_he_tile

    rgb, labels = synthetic_he_tile(shape=(512, 512), seed=0)
    return [(rgb, {"name": "synthetic_he", "rgb": True}, "image"),
            (labels, {"name": "synthetic_he_truth", "opacity": 0.4}, "labels")]
