"""Training jobs that write network weights: the PSM activation network (pretext task)
and the downstream nucleus network (pseudo-labels, optional self-training rounds).

Each writes its weights and model card atomically (``save_model``) and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError
from ..methods.base import WORKING_MPP
from ..progress import Reporter
from .training_images import load_training_images, render_ihc


def agreement_labels(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Instances from the independent hematoxylin cue (the classical method, per image),
    the cross-check of the ``classical-agree`` pseudo-label variant."""
    from ..methods.classical import ClassicalMethod

    return [ClassicalMethod().fit(img[..., :3]).segment_tile(img[..., :3]) for img in images]


def train_activation_network(paths: Sequence[Path], output: Path, config,
                             device: str = "auto", reporter: Optional[Reporter] = None,
                             images: Optional[Sequence[np.ndarray]] = None,
                             mpp: Optional[float] = None) -> tuple[str, dict]:
    """Fit the activation network on ``paths`` (resampled to the working resolution;
    ``mpp``: their pixel size, else the files') with the pretext ``config``
    (:class:`..psm.pretext.PretextConfig`); writes weights + card, returns (sha256, log)."""
    from ..device import resolve_device
    from ..models.weights import save_model
    from ..psm.pretext import train_pretext

    images = load_training_images(paths, seed=config.seed, mpp=mpp) if images is None \
        else images
    net, log = train_pretext(images, config, resolve_device(device), reporter or Reporter())
    card = {"task": "PSM self-supervised activation network", "pretext": config.pretext,
            "data": [Path(p).name for p in paths], "config": vars(config), "training": log,
            "mpp": WORKING_MPP}
    return save_model(net, output, "activation-net", card), log


def train_downstream(paths: Sequence[Path], images: Optional[Sequence[np.ndarray]],
                     output: Path,
                     ssl_weights: Optional[Path] = None, steps: int = 2000, batch: int = 8,
                     crop: int = 256, width: int = 16, lr: Optional[float] = None,
                     seed: int = 0, device: str = "auto", voronoi: bool = True,
                     min_solidity: float = 0.85, variant: str = "classical-agree",
                     strategy: str = "erm", self_training_rounds: int = 0,
                     confident: float = 0.8, keep_rounds: bool = False,
                     reporter: Optional[Reporter] = None,
                     mpp: Optional[float] = None, stain: str = "he",
                     init_weights: Optional[Path] = None) -> dict:
    """Pseudo-masks (each image fitted on itself), targets of ``variant``, a U-Net
    trained with ``strategy``, and its weights + card at ``output``.

    ``stain="ihc"``: the network for ``psm --stain ihc``. Each image (its pixel size
    estimated from the nuclei when unknown) is rendered as that method feeds its network,
    the pseudo-H&E of its H-DAB detection image (:func:`.training_images.render_ihc`),
    and everything else runs on those renders; no label is read either way.
    ``init_weights``: every network starts from these weights (e.g. the bundled H&E
    network) instead of from scratch; ``width`` is taken from them.

    ``self_training_rounds``: after the first network, this many rounds of
    confidence-filtered self-training (:mod:`.selftrain`), each a fresh network trained
    the same way on targets grown from the previous network's outputs; the last one is
    saved. ``keep_rounds`` also saves each earlier round as ``<output>_round<k>.pt``.
    ``images``: the training arrays (None: :func:`load_training_images` of ``paths``,
    resampled to the working resolution from ``mpp`` or the files' pixel size).
    """
    from dataclasses import asdict

    from ..device import resolve_device
    from ..methods.psm import BUILDERS, SSL_WEIGHTS, _bundled
    from ..models.unet import CompactUNet
    from ..models.weights import load_model, model_card, save_model
    from ..psm.activation import SelfActivation
    from ..psm.clustering import SemanticClustering
    from ..psm.pseudolabels import TargetParams
    from ..psm.segtrain import SegTrainConfig, train_segmentation
    from ..psm.selftrain import SelfTrainingRule, next_round_targets
    from ..psm.workflow import pseudo_masks, targets_for, variant_sources

    if stain not in ("he", "ihc"):
        raise InputError("--stain", f"{stain!r}: expected he or ihc")
    init = None
    if init_weights is not None:  # checked before the minutes of pseudo-labelling
        init, _ = load_model(init_weights, BUILDERS)
        if not isinstance(init, CompactUNet):
            raise InputError(init_weights, f"--init: a {type(init).__name__}, expected a "
                             "nucleus network (compact-unet, as `pathrobust train` writes)")
        width = int(init.config["width"])
    reporter = reporter or Reporter()
    images = load_training_images(paths, seed=seed, mpp=mpp, stain=stain) \
        if images is None else images
    if stain == "ihc":
        images = [render_ihc(img) for img in images]
    dev = resolve_device(device)
    ssl_path = ssl_weights or _bundled(SSL_WEIGHTS)
    if not ssl_path:
        raise InputError("--ssl", "no activation network given and none bundled")
    net, ssl_card = load_model(ssl_path, BUILDERS)
    activation = SelfActivation(net, dev)
    clustering = SemanticClustering(seed=seed)
    total = 10 + 30 * (self_training_rounds + 1)  # progress units: 30 per trained network
    masks = pseudo_masks(activation, clustering, images, reporter.sub(0, 5, total))
    target_params = TargetParams(voronoi=voronoi, min_solidity=min_solidity)
    classical = agreement_labels(images) if variant != "scm" else [None] * len(images)
    sources, other = variant_sources(variant, [m.mask for m in masks], classical)
    targets = targets_for(sources, target_params, other, reporter.sub(5, 5, total))
    usable = [(img, t) for img, t in zip(images, targets) if min(img.shape[:2]) >= crop]
    if not usable:
        raise InputError("inputs", f"no image is at least {crop} px a side")
    config = SegTrainConfig(steps=steps, batch=batch, crop=crop, width=width, seed=seed,
                            strategy=strategy, **({"lr": lr} if lr else {}))
    train_images, train_targets = [u[0] for u in usable], [u[1] for u in usable]
    n_reliable = int(sum(t.n_reliable for t in targets))
    rule = SelfTrainingRule(confident=confident)
    seg, log = train_segmentation(train_images, train_targets, config, dev,
                                  reporter=reporter.sub(10, 30, total), init=init)
    rounds = []
    for k in range(1, self_training_rounds + 1):
        start = 10 + 30 * k
        if keep_rounds:
            _save_round(seg, log, output, k - 1, ssl_card, variant, rounds)
        train_targets, added = next_round_targets(seg, train_images, train_targets, dev,
                                                  rule, target_params,
                                                  reporter.sub(start, 2, total))
        rounds.append({"round": k, "nuclei_added": added, "confident": confident,
                       "previous_final_loss": log["final_loss"],
                       "previous_seconds": log["seconds"]})
        seg, log = train_segmentation(train_images, train_targets, config, dev,
                                      reporter=reporter.sub(start + 2, 28, total), init=init)
    card = {"task": "PSM downstream nucleus network (probability + normalised distance)",
            "data": [p.name for p in paths], "ssl_weights": Path(ssl_path).name,
            "ssl_sha256": ssl_card.get("sha256"), "targets": asdict(target_params),
            "clustering": {"k": clustering.k, "mode": clustering.mode,
                           "weight": clustering.weight, "fitted": "per image"},
            "target_variant": variant,
            "self_training": dict(asdict(rule), rounds=self_training_rounds,
                                  history=rounds),
            "n_reliable_nuclei": n_reliable,
            "n_pseudo_nuclei": int(sum(t.n_instances for t in targets)),
            "training": log, "labels_used": False, "mpp": WORKING_MPP, "stain": stain}
    if init_weights is not None:
        card["init_weights"] = {"file": Path(init_weights).name,
                                "sha256": model_card(init_weights).get("sha256")}
    if stain == "ihc":
        card["input"] = ("pseudo-H&E render of the H-DAB detection image "
                         "(engine/ihc/detection.py HdabDetector.pseudo_he)")
    sha = save_model(seg, output, "compact-unet", card)
    seconds = log["seconds"] + sum(r["previous_seconds"] for r in rounds)
    return dict(log, n_reliable=n_reliable, sha256=sha, self_training=rounds,
                total_seconds=seconds)


def _save_round(net, log: dict, output: Path, k: int, ssl_card: dict, variant: str,
                rounds: list) -> None:
    """An intermediate self-training round's weights next to the final ones."""
    from ..models.weights import save_model

    path = output.with_name(f"{output.stem}_round{k}{output.suffix}")
    save_model(net, path, "compact-unet", {
        "task": "PSM downstream nucleus network, intermediate self-training round",
        "round": k, "target_variant": variant, "ssl_sha256": ssl_card.get("sha256"),
        "self_training_history": list(rounds), "training": log, "labels_used": False,
        "mpp": WORKING_MPP})
