"""One optimiser step with loss bookkeeping and progress, shared by the two PSM trainers
(:mod:`.pretext` and :mod:`.segtrain`), which run their own loops over crop windows.

Not to be confused with :mod:`..training.loop`, the generic loop over in-memory batches
that the DAR experiments on classification use.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..progress import Reporter


class StepRunner:
    """Apply ``loss`` with ``opt``/``sched``, keep a running loss, report every 10 steps."""

    def __init__(self, opt, sched, steps: int, reporter: Reporter, label: str = "loss"):
        self.opt, self.sched, self.steps = opt, sched, steps
        self.reporter, self.label = reporter, label
        self.losses: list[float] = []
        self.start = time.perf_counter()

    def __call__(self, step: int, loss: torch.Tensor, before_step=None) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if before_step is not None:
            before_step()
        self.opt.step()
        self.sched.step()
        self.losses.append(float(loss.detach()))
        if step % 10 == 0 or step == self.steps - 1:
            self.reporter.report(step + 1, self.steps, f"{self.label} {self.running:.4f}")

    @property
    def running(self) -> float:
        return float(np.mean(self.losses[-50:])) if self.losses else float("nan")

    def log(self, device) -> dict:
        """Final running loss, seconds and device, for the model card."""
        return {"final_loss": self.running if self.losses else None,
                "seconds": time.perf_counter() - self.start, "device": str(device)}
