"""A model over an EyeWindowDataset: its outputs (`collect_predictions`) and their window-level
metrics (`window_metrics`). fit validates with them every epoch; trainer.evaluate reports them.
"""
from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from manifests import schema
from trainer import metrics

EYE_NAMES = schema.EYES  # the dataset's eye index: 0 left, 1 right (docs/architecture.md)


@torch.no_grad()
def collect_predictions(model: torch.nn.Module, dataset, device: str | torch.device = "cpu",
                        batch_size: int = 64, amp: torch.dtype | None = None,
                        num_workers: int = 0) -> dict[str, Any]:
    """Run `model` over every window of an EyeWindowDataset, in order.

    Returns numpy arrays blink_prob [N], blink [N], closure_pred [N,T], closure [N,T], eye [N],
    start [N], the list clip_id, and the mean losses loss_cls / loss_closure (as fit computes
    them, without pos_weight)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    out: dict[str, list] = defaultdict(list)
    bce_sum, se_sum, n_windows, n_frames, n_labelled = 0.0, 0.0, 0, 0, 0
    for batch in loader:
        frames = batch["frames"].to(device)
        ctx = torch.autocast(device.type, dtype=amp) if amp is not None else nullcontext()
        with ctx:
            o = model(frames)
        blink_logit = o["blink_logit"].float().cpu()
        closure_pred = torch.sigmoid(o["closure_logit"].float()).cpu()
        blink, closure = batch["blink"].float(), batch["closure"].float()
        labelled = ~torch.isnan(blink)
        bce_sum += float(F.binary_cross_entropy_with_logits(blink_logit[labelled], blink[labelled],
                                                            reduction="sum"))
        n_labelled += int(labelled.sum())
        known = ~torch.isnan(closure)
        se_sum += float(((closure_pred - closure)[known] ** 2).sum())
        n_windows += len(blink)
        n_frames += int(known.sum())
        out["blink_prob"].append(torch.sigmoid(blink_logit).numpy())
        out["blink"].append(blink.numpy())
        out["closure_pred"].append(closure_pred.numpy())
        out["closure"].append(closure.numpy())
        out["eye"].append(batch["eye"].numpy())
        out["start"].append(torch.as_tensor(batch["start"]).numpy())
        out["clip_id"].extend(list(batch["clip_id"]))
    model.train(was_training)
    if n_windows == 0:
        raise ValueError("no windows to evaluate (empty dataset or split)")
    preds = {k: (np.concatenate(v) if k != "clip_id" else v) for k, v in out.items()}
    preds["loss_cls"] = bce_sum / n_labelled if n_labelled else float("nan")
    preds["loss_closure"] = se_sum / n_frames if n_frames else float("nan")
    return preds


def window_metrics(preds: dict[str, Any], threshold: float = 0.5) -> dict[str, Any]:
    """Clip-level metrics and closure MAE, overall and per eye."""
    labelled = ~np.isnan(preds["blink"])  # windows whose blink label is unknown count for closure only

    def one(mask):
        return dict(clip=metrics.clip_metrics(preds["blink"][mask & labelled], preds["blink_prob"][mask & labelled],
                                          threshold),
                    closure_mae=metrics.closure_mae(preds["closure_pred"][mask], preds["closure"][mask]))

    everything = np.ones(len(preds["blink"]), dtype=bool)
    result = one(everything)
    result["per_eye"] = {name: one(preds["eye"] == i) for i, name in enumerate(EYE_NAMES)
                         if (preds["eye"] == i).any()}
    return result
