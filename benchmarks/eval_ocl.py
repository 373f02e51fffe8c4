"""OCL / TENT / none on a cross-domain stream of MoNuSeg train-13 crops.

    .venv/bin/python benchmarks/eval_ocl.py [--crop 384] [--severities 3]
        [--methods none,none-tta,tent,ocl-norestore,ocl] [--long-steps 240 --long-crop 256]

Stream: the 13 labelled tiles (centre crops), once per shift kind (hue, stain_shift,
saturation, brightness, defocus at each severity), then once unshifted - one continual
stream per method, starting from the shipped PSM network (``resources/models/psm_unet.pt``).
Each method runs in its own subprocess so peak RSS is its own. Labels are read only to
score (project metrics = ../shared/eval/nuclei_metrics.py definitions). ``--long-steps``
adds a collapse stream (guard off): that many steps cycling through the tiles under
cycling severity-5 shifts; it reports the nucleus fraction drift and AJI of the last pass.

Held-out organs: ``--model W.pt --organs breast,kidney`` starts every stream from a
network trained without those organs' images (bench_dar_segmentation.py --hold-out) and
keeps only those organs' labelled tiles, so "clean" is the organ shift alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _harness import DATA, train13

KINDS = ("hue", "stain_shift", "saturation", "brightness", "defocus")
PRESETS = {"none": dict(method="none"), "none-tta": dict(method="none", average_views=True),
           "tent": dict(method="tent"), "ocl-norestore": dict(method="ocl", restore_p=0.0),
           "ocl": dict(method="ocl")}


def load(data: Path, crop: int, organs: str = ""):
    """(stem, RGB, labels) of the centred ``crop`` of each train-13 tile (those organs)."""
    organ_list = tuple(o for o in organs.split(",") if o)
    return [(t.stem, t.rgb, t.gt) for t in train13(data, crop, organ_list)]


def run_one(args) -> dict:
    from napari_pathrobust.engine.adapt import AdaptConfig, TestTimeAdapter
    from napari_pathrobust.engine.corrupt import corrupt
    from napari_pathrobust.engine.methods.psm import PSMMethod
    from napari_pathrobust.engine.metrics import evaluate
    from napari_pathrobust.engine.psm.instances import instances_from_outputs

    torch.set_num_threads(1)
    psm = PSMMethod(maps=False, device="cpu",
                    **({"seg_weights": str(args.model)} if args.model else {}))
    extra = json.loads(args.extra or "{}")
    cfg = AdaptConfig(**{**PRESETS[args.one], "steps": args.steps, "guard": not args.long,
                         **extra})
    adapter = TestTimeAdapter(psm.seg_net, cfg)
    sevs = [5] if args.long else [int(s) for s in args.severities.split(",") if s]
    tiles = load(args.data, args.long_crop if args.long else args.crop, args.organs)
    conds = [(k, s) for s in sevs for k in KINDS] + ([] if args.long else [("clean", 0)])
    stream = [(c, t) for c in conds for t in tiles]
    if args.long:
        stream = [stream[i % len(stream)] for i in range(args.long_steps)]
        stream = [((KINDS[i % len(KINDS)], 5), stream[i][1]) for i in range(len(stream))]
    scores: dict[str, list] = {}
    seconds = []
    for i, ((kind, sev), (_name, rgb, gt)) in enumerate(stream):
        img = rgb if kind == "clean" else corrupt(rgb, kind, sev, seed=i, device="cpu")
        t0 = time.perf_counter()
        out = adapter.adapt_rgb(img)
        labels = instances_from_outputs(out[0], out[1], psm.instance_params)
        seconds.append(time.perf_counter() - t0)
        if args.long and i < len(stream) - len(tiles):
            continue
        r = evaluate(gt, labels)
        key = "last pass" if args.long else f"{kind}{sev or ''}"
        scores.setdefault(key, []).append([r["aji"], r["object_dice"], r["pixel_f1"]])
    fr = [row["fraction"] for row in adapter.log]
    means = {k: np.mean(v, axis=0).tolist() for k, v in scores.items()}
    return {"method": args.one, "scores": means,
            "s_per_tile": float(np.mean(seconds)), "rollbacks": adapter.rollbacks,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "fraction_first": fr[0], "fraction_last": fr[-1], "fraction_min": min(fr),
            "fraction_max": max(fr), "steps": adapter.steps_done,
            "lr": adapter.config.learning_rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--crop", type=int, default=384)
    ap.add_argument("--severities", default="3")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--methods", default="none,none-tta,tent,ocl-norestore,ocl")
    ap.add_argument("--long", action="store_true", help="the collapse stream instead")
    ap.add_argument("--long-steps", type=int, default=240)
    ap.add_argument("--long-crop", type=int, default=256)
    ap.add_argument("--extra", default="", help="JSON AdaptConfig overrides (all methods)")
    ap.add_argument("--model", type=Path, default=None, help="downstream weights to adapt")
    ap.add_argument("--organs", default="", help="only these organs' tiles (comma list)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args)))
        return
    rows = []
    for m in args.methods.split(","):
        cmd = [sys.executable, __file__, "--one", m] + [a for a in sys.argv[1:]]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    keys = list(rows[0]["scores"])
    print("| method | " + " | ".join(f"{k} AJI / Dice / F1" for k in keys)
          + " | s / tile | peak RSS MB | rollbacks | fraction first -> last (min, max) |")
    print("|---|" + "---|" * (len(keys) + 4))
    for r in rows:
        cells = [" / ".join(f"{v:.3f}" for v in r["scores"][k]) for k in keys]
        print(f"| {r['method']} (lr {r['lr']:g}) | " + " | ".join(cells)
              + f" | {r['s_per_tile']:.2f} | {r['peak_rss_mb']:.0f} | {r['rollbacks']} | "
              f"{r['fraction_first']:.3f} -> {r['fraction_last']:.3f} "
              f"({r['fraction_min']:.3f}, {r['fraction_max']:.3f}) |")


if __name__ == "__main__":
    main()
