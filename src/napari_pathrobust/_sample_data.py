"""Sample data contributions: the bundled H&E demo crop, an IHC image, a synthetic tile."""

from __future__ import annotations

from ._resources import DEMO_IMAGE, DEMO_MPP, resource_path


def demo_crop():
    """The 512x512 TCGA H&E demo crop as an RGB Image layer."""
    from .engine.api import open_image

    slide = open_image(resource_path(DEMO_IMAGE))
    um = DEMO_MPP
    return [(slide.data.compute(), {"name": "demo_he_crop", "rgb": True,
                                    "scale": (um, um), "units": ("um", "um"),
                                    "metadata": {"mpp": um, "source": "TCGA-18-5592-01Z-00-DX1"}},
             "image")]


#: estimated pixel size of scikit-image's IHC sample (see :func:`ihc_sample`)
IHC_SAMPLE_MPP = 0.5


def ihc_sample():
    """scikit-image's IHC image (``skimage.data.immunohistochemistry``) as an RGB layer.

    Colonic glands, the FHL2 protein revealed with DAB (brown, mostly cytoplasmic) and a
    hematoxylin counterstain (blue nuclei); 512 x 512 px, acquired at the Center for
    Microscopy And Molecular Imaging (CMMI), no known copyright restrictions. Its pixel
    size is not published; the stromal nuclei (10-20 px long) put it near 0.5 um/px, so
    the layer says that (scale and ``mpp``, marked as an estimate). Read as 0.25 um/px,
    the methods would see every nucleus at half size and miss most of the stroma's
    (99 cells against 254 with PSM).
    """
    from skimage.data import immunohistochemistry

    um = IHC_SAMPLE_MPP
    return [(immunohistochemistry(), {
        "name": "ihc_sample", "rgb": True, "scale": (um, um), "units": ("um", "um"),
        "metadata": {"stain": "ihc", "mpp": um,
                     "pixel_size": "estimated from nucleus size (not published)",
                     "source": "scikit-image data.immunohistochemistry (CMMI), FHL2 "
                               "DAB + hematoxylin"}}, "image")]


def synthetic_tile():
    """A seeded synthetic H&E-like tile plus its exact nucleus labels."""
    from .engine.api import synthetic_he_tile

    rgb, labels = synthetic_he_tile(shape=(512, 512), seed=0)
    return [(rgb, {"name": "synthetic_he", "rgb": True}, "image"),
            (labels, {"name": "synthetic_he_truth", "opacity": 0.4}, "labels")]
