"""Where Cycles' time goes for one eye-region frame (configs/eye_crops.json: 160x160, border
around the eyes), in CPU seconds of this process (getrusage: every thread, Blender's included).

    python bench/render_profile.py                      # clip 1, 4 frames, 3 interleaved rounds, 1 thread
    python bench/render_profile.py --settings s4_dn eye_crops --rounds 5 --json /tmp/profile.json

Three tables, each measured in this one process, side by side:
1. phases of a frame: per-clip start-up (identity, camera, lights, background: Python + bpy),
   posing + labels, the render call split by what it renders (a 2x2-pixel border measures the
   fixed cost of a call: session reuse, scene/geometry sync and the BVH refit of the posed mesh;
   denoiser on/off measures OpenImageDenoise), and the PNG write;
3. Cycles' own kernel statistics (``_cycles.enable_print_stats()``: time per kernel and per
   shader, profiled by Cycles itself) of the same frames;
2. one knob at a time (bench/render_quality.py's SETTINGS, same knobs, same code): CPU s/frame,
   median over interleaved rounds, and the ratio to ``s4_dn`` (main 55b011f's eye_crops setting).
Quality (SSIM of the trainer's 48x48 crops) is bench/render_quality.py's job, not this one's.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))
from manifests import atomic  # noqa: E402  (the project's one atomic write)


def field(obj, name: str):
    """A field of a spec part, whether it is a dataclass or a dict."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def capture_stdout(fn):
    """Run fn() with the C-level stdout (fd 1) in a temp file; returns (fn's value, the text)."""
    import ctypes
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    libc.fflush(None)
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            value = fn()
        finally:
            sys.stdout.flush()
            libc.fflush(None)  # Cycles prints through C stdio, buffered while fd 1 is a file
            os.dup2(saved, 1)
            os.close(saved)
        tmp.seek(0)
        return value, tmp.read().decode("utf-8", "replace")


_STAT = re.compile(r"^(\s+)(\S.*?)\s+: Total\s+([\d.]+)% \(([\d.]+)s\)")
_SHADER = re.compile(r"^\s+(\S.*?)\s+: ([\d.]+)s \(Relative cost: ([\d.]+)\)")


def parse_kernel_stats(text: str) -> list:
    """[{"kernel": {name: seconds}, "shader": {name: seconds}}, ...] one per render in Cycles' log."""
    renders, cur, section = [], None, None
    for line in text.splitlines():
        if line.startswith("Kernel statistics:"):
            cur = {"kernel": {}, "shader": {}}
            renders.append(cur)
            section, parents = "kernel", []
            continue
        if line.startswith("Shader statistics:"):
            section = "shader"
            continue
        if line.startswith("Object statistics:") or not line.strip():
            section = None
            continue
        if cur is None or section is None:
            continue
        if section == "kernel" and (m := _STAT.match(line)):
            depth = (len(m.group(1)) - 2) // 2  # 2 spaces: total; 4: a kernel; 6: its parts
            name = m.group(2)
            parents = parents[:depth] + [name]
            cur["kernel"][" / ".join(parents[1:]) or name] = float(m.group(4))
        elif section == "shader" and (m := _SHADER.match(line)):
            cur["shader"][m.group(1)] = float(m.group(2))
    return renders


def main(argv=None) -> dict:
    import render_quality as rq

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=os.path.join(REPO, "configs", "eye_crops.json"))
    p.add_argument("--clip", type=int, default=1, help="clip index")
    p.add_argument("--frames", type=int, default=4, help="frames of the clip rendered per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--settings", nargs="+", default=["s4_dn", "s4_fast", "s4_none", "s4_albedo", "s4_rgb",
                                                     "s4_t2", "s4_nolt", "s4_noadapt", "s4_nobump", "s4_m0",
                                                     "s4_dn_nosss", "s4_dnfast", "s2_dn", "eye_crops"],
                   choices=list(rq.SETTINGS) + ["eye_crops"], help="eye_crops: this code's eye-region defaults")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    import bpy

    import _cycles
    from generator import compat
    from generator import scene as scene_mod
    from generator.config import load_config
    from generator.sampling import sample_clip

    from dataclasses import replace
    cfg = load_config(args.config, {"clip.n_frames": args.frames})
    rq.SETTINGS["eye_crops"] = rq.eye_crops_setting(cfg.render.samples)
    t0, c0 = time.perf_counter(), cpu_s()
    # Built with the full look, then switched to eye-region borders: every setting sets all its knobs.
    sc = scene_mod.FaceScene(replace(cfg, render=replace(cfg.render, eye_region=False)))
    sc.eye_region = True
    build = {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_s() - c0}
    bs = sc.scene
    bs.render.threads_mode, bs.render.threads = "FIXED", args.threads
    bsdf = sc.mats["skin"].node_tree.nodes["skin_bsdf"]
    sss_weight = float(compat.principled_socket(bsdf, "Subsurface Weight").default_value)
    spec = sample_clip(cfg, args.clip)
    out = tempfile.mkdtemp(prefix="render_profile_")

    def pose(t):
        fs = spec.frame_state(t)
        verts = sc.set_frame(fs.units, (fs.head_yaw, fs.head_pitch, fs.head_roll), (fs.gaze_yaw, fs.gaze_pitch),
                             fs.camera_shake or (0.0, 0.0, 0.0))
        labels = sc.frame_labels(verts, fs)
        sc.set_eye_region_border(labels)
        return labels

    def render_cpu():
        c = cpu_s()
        bpy.ops.render.render(write_still=False)
        return cpu_s() - c

    # ---- 1. phases, under main's eye_crops setting (s4_dn)
    rq.apply_setting(sc, rq.SETTINGS["s4_dn"], sss_weight)
    phases = {k: [] for k in ("clip start-up (identity, camera, lights, background)", "first frame of a clip: render call",
                              "pose + labels", "render call, border, posed", "render call, border, same pose again",
                              "render call, border, posed, denoiser off", "render call, 2x2 px, posed",
                              "render call, 2x2 px, same pose again", "render call, 2x2 px, posed, denoiser off",
                              "PNG write")}
    r = bs.render
    for rnd in range(args.rounds):
        c = cpu_s()
        identity = field(spec, "identity")
        sc.set_identity(identity)  # what a new subject pays
        sc.set_camera(field(spec, "camera"), field(spec, "resolution") or cfg.clip.resolution)
        sc.set_lights(field(spec, "lights"))
        sc.set_background(field(spec, "background"))
        phases["clip start-up (identity, camera, lights, background)"].append(cpu_s() - c)
        pose(0)
        phases["first frame of a clip: render call"].append(render_cpu())
        for t in range(1, args.frames):
            c = cpu_s()
            pose(t)
            phases["pose + labels"].append(cpu_s() - c)
            phases["render call, border, posed"].append(render_cpu())
            phases["render call, border, same pose again"].append(render_cpu())
            c = cpu_s()
            path = os.path.join(out, "f.png")
            bpy.data.images["Render Result"].save_render(filepath=path, scene=bs)
            phases["PNG write"].append(cpu_s() - c)
            bs.cycles.use_denoising = False
            pose(t)
            phases["render call, border, posed, denoiser off"].append(render_cpu())
            bs.cycles.use_denoising = compat.has_oidn()
            border = (r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y)
            cx, cy = (border[0] + border[1]) / 2, (border[2] + border[3]) / 2
            r.border_min_x, r.border_max_x = cx, cx + 2 / r.resolution_x
            r.border_min_y, r.border_max_y = cy, cy + 2 / r.resolution_y
            sc.set_frame(spec.frame_state(t - 1).units)  # a different pose: the mesh must re-sync
            phases["render call, 2x2 px, posed"].append(render_cpu())
            phases["render call, 2x2 px, same pose again"].append(render_cpu())
            bs.cycles.use_denoising = False
            sc.set_frame(spec.frame_state(t).units)
            phases["render call, 2x2 px, posed, denoiser off"].append(render_cpu())
            bs.cycles.use_denoising = compat.has_oidn()
    pose(1)
    border_px = ((r.border_max_x - r.border_min_x) * r.resolution_x, (r.border_max_y - r.border_min_y) * r.resolution_y)

    # ---- 2. one knob at a time, interleaved rounds
    toggles = {s: [] for s in args.settings}
    for rnd in range(args.rounds):
        for s in args.settings:
            rq.apply_setting(sc, rq.SETTINGS[s], sss_weight)
            for t in range(args.frames):
                pose(t)
                toggles[s].append(render_cpu())
    rq.apply_setting(sc, rq.SETTINGS["s4_dn"], sss_weight)

    # ---- 3. Cycles' kernel statistics of the same frames (last: once on, Cycles' profiler stays on)
    def stats_for(setting):
        rq.apply_setting(sc, rq.SETTINGS[setting], sss_weight)

        def go():
            for t in range(args.frames):
                pose(t)
                bpy.ops.render.render(write_still=False)
        _, text = capture_stdout(go)
        per = parse_kernel_stats(text)
        keys = per[0]["kernel"] if per else {}
        return {"kernel": {k: statistics.median(x["kernel"].get(k, 0.0) for x in per) for k in keys},
                "shader": {k: statistics.median(x["shader"].get(k, 0.0) for x in per) for k in (per[0]["shader"] if per else {})}}
    _cycles.enable_print_stats()
    kstats = {s: stats_for(s) for s in dict.fromkeys(["s4_dn", args.settings[-1]])}

    result = {"info": {"config": os.path.relpath(args.config, REPO), "clip": spec.clip_id, "frames": args.frames,
                       "rounds": args.rounds, "threads": args.threads, "blender": bpy.app.version_string,
                       "border_px": border_px, "load_average": os.getloadavg(), "build": build},
              "phases": {k: statistics.median(v) for k, v in phases.items() if v},
              "kernel_stats": kstats,
              "toggles": {s: {"setting": rq.SETTINGS[s], "cpu_s_per_frame": statistics.median(v), "n": len(v)}
                          for s, v in toggles.items()}}
    print(markdown(result))
    if args.json:
        atomic.write_text(args.json, json.dumps(result, indent=1))
    return result


def markdown(res: dict) -> str:
    i = res["info"]
    la = ", ".join(f"{x:.1f}" for x in i["load_average"])
    lines = [f"Render profile: {i['config']} clip {i['clip']}, {i['frames']} frames x {i['rounds']} rounds, "
             f"{i['threads']} render thread(s), Blender {i['blender']}, border {i['border_px'][0]:.0f}x"
             f"{i['border_px'][1]:.0f} px, load average {la} (CPU s of this process; medians)", "",
             f"Scene build (once per process): {i['build']['cpu_s']:.2f} CPU-s", "",
             "| phase (main 55b011f's eye_crops setting: 4 samples, OIDN albedo+normal, ACCURATE prefilter) | CPU s |",
             "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in res["phases"].items()]
    for name, ks in res["kernel_stats"].items():
        total = ks["kernel"].get("Total render time", 0.0) or 1e-9
        lines += ["", f"Cycles kernel statistics, setting {name}: its sampling profiler counts wall seconds (inflated on a busy machine), so the share is the number to read", "",
                  "| kernel | wall s/frame | share |", "|---|---|---|"]
        lines += [f"| {k} | {v:.3f} | {100 * v / total:.0f}% |" for k, v in ks["kernel"].items() if v >= 0.0005]
        lines += [f"| shader: {k} | {v:.3f} | {100 * v / total:.0f}% |" for k, v in ks["shader"].items() if v >= 0.0005]
    base = res["toggles"].get("s4_dn", {}).get("cpu_s_per_frame")
    lines += ["", "| setting (one knob changed from s4_dn unless listed) | knobs | CPU s/frame | vs s4_dn |", "|---|---|---|---|"]
    for s, t in res["toggles"].items():
        knobs = ", ".join(f"{k}={v}" for k, v in t["setting"].items())
        ratio = f"{base / t['cpu_s_per_frame']:.2f}x" if base else "-"
        lines.append(f"| {s} | {knobs} | {t['cpu_s_per_frame']:.3f} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
