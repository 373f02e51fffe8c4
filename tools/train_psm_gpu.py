"""Train the shipped PSM networks (pretext + downstream variants) in one run.

Meant for a GPU machine that has torch, numpy, scipy, scikit-image and Pillow but not
the plugin's I/O stack, so it reads PNG/TIFF tiles directly and saves raw weight blobs
(``{"kind", "config", "state_dict"}``) plus a JSON log; `tools/finish_psm_models.py`
then writes the model cards and hashes on the development machine.

    PYTHONPATH=src python3 tools/train_psm_gpu.py --images DIR --out OUT \
        [--ssl-steps 3000] [--seg-steps 4000] [--device cuda]

No label or mask is read: the images are the only input.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from napari_pathrobust.engine.jobs.train_psm import agreement_labels
from napari_pathrobust.engine.psm.activation import SelfActivation
from napari_pathrobust.engine.psm.clustering import SemanticClustering
from napari_pathrobust.engine.psm.pretext import PretextConfig, train_pretext
from napari_pathrobust.engine.psm.pseudolabels import TargetParams
from napari_pathrobust.engine.psm.segtrain import SegTrainConfig, train_segmentation
from napari_pathrobust.engine.psm.workflow import (
    pseudo_masks,
    targets_for,
    variant_sources,
)


def load(folder: Path) -> tuple[list[str], list[np.ndarray]]:
    names, images = [], []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in (".png", ".tif", ".tiff"):
            if p.suffix.lower() == ".png":
                img = np.asarray(Image.open(p).convert("RGB"))
            else:
                import tifffile

                img = tifffile.imread(p)[..., :3]
            names.append(p.stem)
            images.append(np.ascontiguousarray(img))
    return names, images


def save_blob(net, kind: str, path: Path) -> None:
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save({"kind": kind, "config": net.config, "state_dict": state}, path)


def load_blob(path: Path, builders: dict):
    """(network in eval mode, kind) from a blob written by :func:`save_blob`."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = builders[blob["kind"]](**blob["config"])
    net.load_state_dict(blob["state_dict"])
    return net.eval(), blob["kind"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--ssl-steps", type=int, default=3000)
    ap.add_argument("--seg-steps", type=int, default=4000)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ssl", type=Path, default=None, help="reuse a pretext network")
    ap.add_argument("--variants", default="agree,scm",
                    help="comma list of: agree, scm, union, classical-agree")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log: dict = {"device": args.device, "torch": torch.__version__}
    if torch.cuda.is_available():
        log["gpu"] = torch.cuda.get_device_name(0)
    names, images = load(args.images)
    log["images"] = names
    t0 = time.perf_counter()
    if args.ssl:
        from napari_pathrobust.engine.models.ssl_net import ActivationNet

        net, _ = load_blob(args.ssl, {"activation-net": ActivationNet})
        log["ssl"] = {"reused": str(args.ssl)}
    else:
        ssl_cfg = PretextConfig(steps=args.ssl_steps, batch=64, crop=128, seed=args.seed)
        net, ssl_log = train_pretext(images, ssl_cfg, args.device)
        save_blob(net, "activation-net", args.out / "psm_ssl.pt")
        log["ssl"] = {"config": asdict(ssl_cfg), **ssl_log}
    print(f"ssl done {time.perf_counter() - t0:.0f}s", flush=True)

    t1 = time.perf_counter()
    act = SelfActivation(net, args.device)
    masks = [m.mask for m in pseudo_masks(act, SemanticClustering(seed=args.seed), images)]
    other = agreement_labels(images)
    log["pseudo_seconds"] = time.perf_counter() - t1
    print(f"pseudo-masks done {log['pseudo_seconds']:.0f}s", flush=True)
    params = TargetParams()
    for name in args.variants.split(","):
        source, agree = variant_sources(name, masks, other)
        t2 = time.perf_counter()
        targets = targets_for(source, params, agree)
        cfg = SegTrainConfig(steps=args.seg_steps, batch=16, crop=256, seed=args.seed)
        seg, seg_log = train_segmentation(images, targets, cfg, args.device)
        save_blob(seg, "compact-unet", args.out / f"psm_unet_{name}.pt")
        log[f"seg_{name}"] = {"targets": asdict(params), "agreement": agree is not None,
                              "n_reliable": int(sum(t.n_reliable for t in targets)),
                              "n_instances": int(sum(t.n_instances for t in targets)),
                              "total_seconds": time.perf_counter() - t2, **seg_log}
        print(f"seg {name} done {time.perf_counter() - t2:.0f}s "
              f"loss {seg_log['final_loss']:.4f}", flush=True)
    (args.out / "train_log.json").write_text(json.dumps(log, indent=2, default=str))


if __name__ == "__main__":
    main()
