"""Inference throughput on ONE CPU core (torch.set_num_threads(1)): eye windows per second.

    python bench/infer_speed.py                               # every registered model
    python bench/infer_speed.py --models blinkformer_tiny --batch-sizes 1 32 --onnx

One 13-frame window of 48x48 crops is one eye for one moment of video: a 30 fps video with two
eyes scored at stride 1 needs 60 windows/s to run in real time. Prints median windows/s over
--repeats timed runs (after a warm-up); --onnx adds onnxruntime rows (one intra-op thread).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from trainer.models import create_model, list_models  # noqa: E402


def bench(fn, repeats: int, min_time: float = 0.3) -> float:
    """Median seconds per call (each timed run loops until min_time has passed)."""
    fn()
    results = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            if time.perf_counter() - t0 >= min_time:
                break
        results.append((time.perf_counter() - t0) / n)
    return statistics.median(results)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=None, help="default: all registered models")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--onnx", action="store_true", help="also time the exported ONNX model with onnxruntime")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in a.models or list_models():
        torch.manual_seed(0)
        model = create_model(name).eval()
        n_params = sum(p.numel() for p in model.parameters())
        for b in a.batch_sizes:
            x = torch.randint(0, 256, (b, model.window, 3, model.crop_size, model.crop_size), dtype=torch.uint8)
            with torch.inference_mode():
                sec = bench(lambda: model(x), a.repeats)
            rows.append((name, "torch", n_params, b, b / sec, 1000 * sec))
        if a.onnx:
            import onnxruntime as ort

            from trainer.export import check_parity, export_onnx
            from trainer.checkpoint import checkpoint_state
            with tempfile.TemporaryDirectory() as tmp:
                ckpt = Path(tmp) / "m.pt"
                torch.save(checkpoint_state(model, name, dict(crop_size=model.crop_size, window=model.window)), ckpt)
                onnx_path = export_onnx(str(ckpt), str(Path(tmp) / "m.onnx"))
                diff = check_parity(str(ckpt), str(onnx_path))["max_abs_diff"]
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = opts.inter_op_num_threads = 1
                sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
                for b in a.batch_sizes:
                    x = torch.randint(0, 256, (b, model.window, 3, model.crop_size, model.crop_size),
                                      dtype=torch.uint8).numpy()
                    sec = bench(lambda: sess.run(None, {"frames": x}), a.repeats)
                    rows.append((name, f"onnxrt (diff {diff:.0e})", n_params, b, b / sec, 1000 * sec))
    print(f"one CPU thread; median of {a.repeats} timed runs; window = 13 frames of 48x48x3 unless the model says otherwise")
    print(f"{'model':22} {'runtime':22} {'params':>10} {'batch':>5} {'windows/s':>10} {'ms/batch':>9}")
    for name, rt, n_params, b, wps, ms in rows:
        print(f"{name:22} {rt:22} {n_params:10,d} {b:5d} {wps:10.1f} {ms:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
