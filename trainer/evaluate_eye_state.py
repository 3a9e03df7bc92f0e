"""Zero-shot eye-state accuracy on a labelled folder of eye crops: `python -m trainer.evaluate_eye_state`.

    python -m trainer.evaluate_eye_state --checkpoint RUN/best.pt --root DIR --report FILE.json

DIR holds images under folders named like Open/ and Closed/ (e.g. the eye-state set of
docs/design.md: real data; evaluation only, never training data). Each
image is scored as a still sequence by trainer.predict; the predicted closure is the score of
"closed". Reported: AUROC of closure (threshold-free), accuracy / balanced accuracy at closure
threshold 0.5 (fixed in advance: half closed), mean closure per class, and the AUROC of the blink
head's probability (a still closed eye is not a blink, so that one is expected to be weaker).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from manifests.cli_errors import one_line_errors
from trainer import metrics
from trainer.outputs import write_json
from trainer.predict import predict_images


def eye_state_report(scores, threshold: float = 0.5) -> dict:
    labelled = scores[scores["label"].notna()]
    if labelled.empty or labelled["label"].nunique() < 2:
        raise ValueError("need images under both an 'open' and a 'closed' folder")
    y = labelled["label"].to_numpy().astype(int)
    closure = labelled["closure"].to_numpy()
    pred = closure >= threshold
    recall_closed = float(pred[y == 1].mean())
    recall_open = float((~pred[y == 0]).mean())
    return dict(
        images=int(len(labelled)), closed=int(y.sum()), open=int((y == 0).sum()), threshold=threshold,
        auroc_closure=metrics.auroc(y, closure), accuracy=float((pred == y).mean()),
        balanced_accuracy=(recall_closed + recall_open) / 2, recall_closed=recall_closed, recall_open=recall_open,
        mean_closure_closed=float(closure[y == 1].mean()), mean_closure_open=float(closure[y == 0].mean()),
        auroc_blink_prob=metrics.auroc(y, labelled["blink_prob"].to_numpy()))


@one_line_errors(OSError, ValueError)
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--root", required=True, help="folder with Open/ and Closed/ eye images")
    p.add_argument("--report", required=True, help="report JSON (scores CSV is written beside it)")
    p.add_argument("--image-fit", choices=["square", "corners"], default="square")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    scores = predict_images(a.checkpoint, a.root, None, a.image_fit, a.batch_size, a.device)
    report = eye_state_report(scores, a.threshold)
    report.update(checkpoint=a.checkpoint, root=a.root, image_fit=a.image_fit)
    report_path = Path(a.report)
    write_json(report, report_path)
    scores_path = report_path.with_name(report_path.stem + "_scores.csv")
    scores.to_csv(scores_path, index=False)
    print(f"{report['images']} images: closure AUROC {report['auroc_closure']:.3f}, accuracy@{a.threshold:g} "
          f"{report['accuracy']:.3f} (balanced {report['balanced_accuracy']:.3f}); mean closure closed "
          f"{report['mean_closure_closed']:.3f} open {report['mean_closure_open']:.3f}; report {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
