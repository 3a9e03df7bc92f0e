"""Export a checkpoint to ONNX and check it against PyTorch: `python -m trainer.export`.

    python -m trainer.export --checkpoint RUN/best.pt --out model.onnx [--opset 17] [--input-dtype uint8]

The graph takes `frames` [batch, T, 3, S, S] (uint8 0..255 by default, the crops as predict makes
them; normalisation is inside the model) with a dynamic batch axis, and returns `blink_logit`
[batch] and `closure_logit` [batch, T] (apply a sigmoid for probabilities). After writing, the
file is run with onnxruntime on random inputs of two batch sizes and compared to PyTorch; the
max abs difference is printed and stored in OUT.json beside the model.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from manifests.cli_errors import one_line_errors
from trainer.checkpoint import load_trained_model
from trainer.outputs import atomic_path

OUTPUTS = ("blink_logit", "closure_logit")


class _TupleOutputs(torch.nn.Module):
    """ONNX graphs return tuples; fix the order of the model's output dict."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frames):
        out = self.model(frames)
        return tuple(out[k] for k in OUTPUTS)


def export_onnx(checkpoint: str, out: str, opset: int = 17, input_dtype: str = "uint8") -> Path:
    """Write the ONNX file atomically and return its path."""
    model, _ = load_trained_model(checkpoint, "cpu")
    window, size = int(model.window), int(model.crop_size)
    dtype = {"uint8": torch.uint8, "float32": torch.float32}[input_dtype]
    example = (torch.randint(0, 256, (2, window, 3, size, size), dtype=torch.uint8)).to(dtype)
    if dtype == torch.float32:
        example = example / 255.0  # the model reads float input as 0..1
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp:
        # dynamo=False: the TorchScript exporter needs no onnxscript and handles this model fully;
        # its deprecation notice and the tracer's note about the fixed window are expected
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(_TupleOutputs(model).eval(), (example,), tmp, dynamo=False,
                              input_names=["frames"], output_names=list(OUTPUTS), opset_version=opset,
                              dynamic_axes={"frames": {0: "batch"}, "blink_logit": {0: "batch"},
                                            "closure_logit": {0: "batch"}})
        import onnx
        onnx.checker.check_model(tmp)
    return out_path


def check_parity(checkpoint: str, onnx_path: str, batch_sizes=(1, 3), seed: int = 0) -> dict:
    """Max abs difference between onnxruntime and PyTorch outputs on random crops."""
    import onnxruntime as ort

    model, _ = load_trained_model(checkpoint, "cpu")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    as_float = "float" in inp.type
    g = torch.Generator().manual_seed(seed)
    diffs = {k: 0.0 for k in OUTPUTS}
    for b in batch_sizes:
        frames = torch.randint(0, 256, (b, model.window, 3, model.crop_size, model.crop_size),
                               dtype=torch.uint8, generator=g)
        x = frames.float() / 255.0 if as_float else frames
        with torch.no_grad():
            ref = model(x)
        got = sess.run(list(OUTPUTS), {inp.name: x.numpy()})
        for k, v in zip(OUTPUTS, got):
            if v.shape != tuple(ref[k].shape):
                raise AssertionError(f"{onnx_path}: {k} has shape {v.shape}, PyTorch gives {tuple(ref[k].shape)}")
            diffs[k] = max(diffs[k], float(np.abs(v - ref[k].numpy()).max()))
    return {"max_abs_diff": max(diffs.values()), "per_output": diffs, "batch_sizes": list(batch_sizes)}


@one_line_errors(OSError, ValueError)  # a missing/corrupt checkpoint (CheckpointError), bad --out
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="model.onnx")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--input-dtype", choices=["uint8", "float32"], default="uint8")
    p.add_argument("--tolerance", type=float, default=1e-3, help="fail when the max abs difference exceeds it")
    a = p.parse_args(argv)
    path = export_onnx(a.checkpoint, a.out, a.opset, a.input_dtype)
    parity = check_parity(a.checkpoint, str(path))
    info = {"checkpoint": a.checkpoint, "onnx": str(path), "opset": a.opset, "input_dtype": a.input_dtype,
            **parity}
    Path(str(path) + ".json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {path} (opset {a.opset}); onnxruntime vs PyTorch max abs diff {parity['max_abs_diff']:.2e} "
          f"over batch sizes {parity['batch_sizes']}")
    if parity["max_abs_diff"] > a.tolerance:
        print(f"error: max abs diff {parity['max_abs_diff']:.2e} exceeds tolerance {a.tolerance}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
