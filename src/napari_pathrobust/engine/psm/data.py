"""Loading training images and the end-to-end downstream training job."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError
from ..io import open_image
from ..progress import Reporter

MAX_WHOLE_PIXELS = 4096 * 4096


def load_training_images(paths: Sequence[Path], seed: int = 0, crop: int = 1024,
                         crops_per_slide: int = 16) -> list[np.ndarray]:
    """RGB arrays for training: small images whole, large slides as seeded crops."""
    rng = np.random.default_rng(seed)
    images = []
    for path in paths:
        slide = open_image(path)
        height, width = slide.shape
        if height * width <= MAX_WHOLE_PIXELS:
            images.append(np.asarray(slide.data.compute()))
            continue
        for _ in range(crops_per_slide):
            y = int(rng.integers(0, height - crop + 1))
            x = int(rng.integers(0, width - crop + 1))
            images.append(np.asarray(slide.data[y:y + crop, x:x + crop].compute()))
    if not images:
        raise InputError("inputs", "no training images")
    return images


def train_downstream(paths: Sequence[Path], images: Sequence[np.ndarray], output: Path,
                     ssl_weights: Optional[Path] = None, steps: int = 2000, batch: int = 8,
                     crop: int = 256, width: int = 16, lr: Optional[float] = None,
                     seed: int = 0, device: str = "auto", voronoi: bool = True,
                     min_solidity: float = 0.85, variant: str = "classical-agree",
                     strategy: str = "erm", reporter: Optional[Reporter] = None) -> dict:
    """Pseudo-masks (each image fitted on itself), targets of ``variant``, a U-Net
    trained with ``strategy``, and its weights + card at ``output``."""
    from dataclasses import asdict

    from ..device import resolve_device
    from ..methods.psm import BUILDERS, SSL_WEIGHTS, _bundled
    from ..models.weights import load_model, save_model
    from .activation import SelfActivation
    from .clustering import SemanticClustering
    from .pseudolabels import TargetParams
    from .segtrain import SegTrainConfig, train_segmentation
    from .workflow import agreement_labels, pseudo_masks, targets_for, variant_sources

    reporter = reporter or Reporter()
    dev = resolve_device(device)
    ssl_path = ssl_weights or _bundled(SSL_WEIGHTS)
    if not ssl_path:
        raise InputError("--ssl", "no activation network given and none bundled")
    net, ssl_card = load_model(ssl_path, BUILDERS)
    activation = SelfActivation(net, dev)
    clustering = SemanticClustering(seed=seed)
    masks = pseudo_masks(activation, clustering, images, reporter.sub(0, 5, 100))
    target_params = TargetParams(voronoi=voronoi, min_solidity=min_solidity)
    classical = agreement_labels(images) if variant != "scm" else [None] * len(images)
    sources, other = variant_sources(variant, [m.mask for m in masks], classical)
    targets = targets_for(sources, target_params, other, reporter.sub(5, 5, 100))
    usable = [(img, t) for img, t in zip(images, targets) if min(img.shape[:2]) >= crop]
    if not usable:
        raise InputError("inputs", f"no image is at least {crop} px a side")
    config = SegTrainConfig(steps=steps, batch=batch, crop=crop, width=width, seed=seed,
                            strategy=strategy, **({"lr": lr} if lr else {}))
    seg, log = train_segmentation([u[0] for u in usable], [u[1] for u in usable], config, dev,
                                  reporter=reporter.sub(10, 90, 100))
    n_reliable = int(sum(t.n_reliable for t in targets))
    card = {"task": "PSM downstream nucleus network (probability + normalised distance)",
            "data": [p.name for p in paths], "ssl_weights": Path(ssl_path).name,
            "ssl_sha256": ssl_card.get("sha256"), "targets": asdict(target_params),
            "clustering": {"k": clustering.k, "mode": clustering.mode,
                           "weight": clustering.weight, "fitted": "per image"},
            "target_variant": variant,
            "n_reliable_nuclei": n_reliable,
            "n_pseudo_nuclei": int(sum(t.n_instances for t in targets)),
            "training": log, "labels_used": False}
    sha = save_model(seg, output, "compact-unet", card)
    return dict(log, n_reliable=n_reliable, sha256=sha)
