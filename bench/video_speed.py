"""End-to-end video speed on ONE CPU core: frames per second of `trainer.predict` on 640x480 video.

    taskset -c 0 python bench/video_speed.py                       # generated 640x480 video, blinkformer_tiny
    taskset -c 0 python bench/video_speed.py --models blinkformer_tiny blinkformer_cnn_tiny --video V.mp4

Stages, each timed end to end over the whole video (median of --repeats runs, torch and
OpenCV limited to one thread; run under `taskset -c 0` so MediaPipe's threads share one core;
both CPU time of the process and wall time are reported): decode only; decode + FaceMesh tracking; the EAR method (decode,
FaceMesh, EAR, events); the model method (decode, FaceMesh, crops, model over windows at
--stride, events) for each model. Speed does not depend on the weights, so --models builds
untrained checkpoints of the named architectures (--checkpoint measures a trained one).
The default video is the tests' moving astronaut face with painted blinks, written at 640x480
(so the benchmark needs nothing outside the repository). No outputs are written (overlay off).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import torch  # noqa: E402


def make_video(path: Path, frames: int) -> None:
    from tests.video_fixtures import face_frames, write_video

    closed = {t for k in range(0, frames, 45) for t in range(k + 20, k + 23)}
    write_video(path, face_frames(frames, closed=closed), fps=30)


def untrained_checkpoint(name: str, path: Path) -> Path:
    from trainer.models import create_model

    kwargs = dict(crop_size=48, window=13)
    model = create_model(name, **kwargs)
    torch.save(dict(model=model.state_dict(), model_name=name, model_kwargs=kwargs), path)
    return path


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median (wall s, CPU s of this process, all its threads) over `repeats` runs. On a shared
    machine the CPU time is the fair one-core cost; wall time is what a user on an idle core sees
    only when the two agree."""
    fn()  # warm-up: model load, mediapipe graph start
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", help="a video to time (default: a generated 640x480 one)")
    p.add_argument("--frames", type=int, default=300, help="frames of the generated video")
    p.add_argument("--models", nargs="+", default=["blinkformer_tiny"])
    p.add_argument("--checkpoint", help="a trained checkpoint to time as well")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    from trainer.checkpoint import checkpoint_crop_config, load_trained_model
    from trainer.predict import analyse_track, model_event_config, track_video
    from trainer.ear import EAR_EVENTS
    from trainer.video import iter_video_frames, probe_video

    tmp = Path(tempfile.mkdtemp(prefix="video_speed_"))
    video = Path(a.video) if a.video else tmp / "face_640x480.mp4"
    if not a.video:
        make_video(video, a.frames)
    info = probe_video(video)
    n = sum(1 for _ in iter_video_frames(video))
    print(f"video {video.name}: {info['width']}x{info['height']}, {n} frames; one thread; median of {a.repeats}")
    rows = []

    def report(what, times):
        wall, cpu = times
        rows.append((what, n / wall, n / cpu))
        print(f"| {what} | {n / cpu:.1f} | {1000 * cpu / n:.2f} | {n / wall:.1f} |", flush=True)

    print("| stage | frames per CPU-second | CPU ms/frame | frames per wall-second |\n|---|---|---|---|")
    report("decode", timed(lambda: sum(1 for _ in iter_video_frames(video)), a.repeats))
    report("decode + FaceMesh", timed(lambda: track_video(str(video)), a.repeats))

    def ear():
        track = track_video(str(video))
        analyse_track(track, "ear", events_cfg=EAR_EVENTS)
    report("EAR method, end to end", timed(ear, a.repeats))

    ckpts = [(m, untrained_checkpoint(m, tmp / f"{m}.pt")) for m in a.models]
    if a.checkpoint:
        ckpts.append((a.checkpoint, Path(a.checkpoint)))
    for name, ckpt_path in ckpts:
        def model_run():
            from dataclasses import replace
            model, ckpt = load_trained_model(ckpt_path)
            crop_cfg = replace(checkpoint_crop_config(ckpt), center="corners")
            track = track_video(str(video), crop_cfg)
            analyse_track(track, "model", model, a.stride, 64, "cpu", model_event_config(ckpt))
        report(f"{name} (stride {a.stride}), end to end", timed(model_run, a.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
