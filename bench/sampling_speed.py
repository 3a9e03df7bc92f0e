"""Cost of sampling (pure numpy, no Blender): one clip's parameters + all its frame states, and
one frame state of a 10-minute video. Both must stay far below a rendered frame's cost.

    python bench/sampling_speed.py [--clips 50] [--repeats 5]

Prints the median over --repeats of ms per clip (default config: 13 frames) and ms per frame
state of a 30 fps, 10-minute video (every 60th frame).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from generator.config import load_config  # noqa: E402
from generator.sampling import sample_clip  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    cfg = load_config(None, {})
    video = sample_clip(load_config(None, {"clip.mode": "video", "clip.n_frames": 30 * 600}), 0)
    per_clip, per_video_frame = [], []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for i in range(a.clips):
            s = sample_clip(cfg, i)
            for t in range(s.n_frames):
                s.frame_state(t)
        per_clip.append((time.perf_counter() - t0) / a.clips)
        frames = range(0, video.n_frames, 60)
        t0 = time.perf_counter()
        for t in frames:
            video.frame_state(t)
        per_video_frame.append((time.perf_counter() - t0) / len(frames))
    print(f"clip (sample + {s.n_frames} frame states): median {1e3 * statistics.median(per_clip):.2f} ms "
          f"(range {1e3 * min(per_clip):.2f}-{1e3 * max(per_clip):.2f}) over {a.repeats} x {a.clips} clips")
    print(f"10-minute video ({len(video.blink_events)} blink events), one frame state: median "
          f"{1e3 * statistics.median(per_video_frame):.3f} ms (range {1e3 * min(per_video_frame):.3f}-"
          f"{1e3 * max(per_video_frame):.3f})")


if __name__ == "__main__":
    main()
