"""Turn raw weight blobs from `train_psm_gpu.py` into shipped weights with model cards.

    .venv/bin/python tools/finish_psm_models.py --ssl RUN1/psm_ssl.pt \
        --ssl-log RUN1/train_log.json --seg RUN2/psm_unet_classical-agree.pt \
        --seg-log RUN2/train_log.json --variant classical-agree --out resources/models
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train_psm_gpu import load_blob

from napari_pathrobust.engine.methods.psm import BUILDERS
from napari_pathrobust.engine.models.weights import save_model

DATA = ("MoNuSeg 2018 training images (30 H&E tiles, 1000x1000, 40x, TCGA), images only: "
        "no label or mask was read")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ssl", type=Path, required=True)
    ap.add_argument("--ssl-log", type=Path, required=True)
    ap.add_argument("--seg", type=Path, required=True)
    ap.add_argument("--seg-log", type=Path, required=True)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--out", type=Path, default=Path("resources/models"))
    args = ap.parse_args()
    ssl_log = json.loads(args.ssl_log.read_text())
    seg_log = json.loads(args.seg_log.read_text())
    net, kind = load_blob(args.ssl, BUILDERS)
    ssl_sha = save_model(net, args.out / "psm_ssl.pt", kind, {
        "task": "PSM self-supervised activation network (compact ResNet, stage 1 = target)",
        "pretext": ssl_log["ssl"]["config"]["pretext"], "data": DATA,
        "training": ssl_log["ssl"], "trained_on": ssl_log.get("gpu", ssl_log["device"]),
        "command": "tools/train_psm_gpu.py (see docs/benchmarks.md, PSM)"})
    net, kind = load_blob(args.seg, BUILDERS)
    variant = seg_log[f"seg_{args.variant}"]
    seg_sha = save_model(net, args.out / "psm_unet.pt", kind, {
        "task": "PSM downstream nucleus network: nucleus probability + normalised distance",
        "pseudo_labels": args.variant, "data": DATA, "training": variant,
        "ssl_sha256": ssl_sha, "trained_on": seg_log.get("gpu", seg_log["device"]),
        "labels_used": False,
        "command": "tools/train_psm_gpu.py --variants " + args.variant})
    print(f"psm_ssl.pt {ssl_sha[:16]}\npsm_unet.pt {seg_sha[:16]}")


if __name__ == "__main__":
    main()
