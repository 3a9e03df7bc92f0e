"""Eye-crop quality vs render cost of Cycles settings: SSIM of the trainer's 48x48 eye crops
against a high-sample reference, and CPU seconds per frame, one row per setting.

    python bench/render_quality.py                          # 3 clips x 2 frames (open + most closed), 350x350
    python bench/render_quality.py --ref-samples 256 --settings s16_dn s4_dn s4_dn_burley

Every setting renders the same frames (same poses, same labels) with one FaceScene; the
reference is ``--ref-samples`` without a denoiser and with the richest light transport the
scene has (random-walk skin subsurface, the default bounces), so a candidate that changes the
look (cheaper subsurface, fewer bounces) is measured against the look, not against itself.
Crops are cut exactly as training does (trainer.crops.CropConfig(size=48), crop_eye from the
rows' eye corners). Frames are rendered in eye-region mode (its border holds each eye's crop
square), which is what makes a 256-sample reference affordable on a shared 2-core machine;
CPU s/frame is therefore the eye-region cost: bench/render_speed.py gives the full-face cost.
CPU seconds (getrusage of this process, all threads) because wall time on a shared machine
also counts the other tenants. Prints a markdown table with medians; --json keeps the numbers.

Measured 2026-11-25 (350x350, adaptive-sampled reference): 4 samples + denoiser became the
default. 2026-11-29 (configs/eye_crops.json, 160x160, 16 crops, reference without adaptive
sampling): main's s4_dn 0.973 median / 0.936 min; eye_crops (compat.EYE_CROPS) 0.975 / 0.935 at
about 2.5x fewer CPU-s; fewer samples or a smaller OIDN network lower the minimum (BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from manifests import atomic  # noqa: E402  (the project's one atomic write)

# name -> Cycles settings. samples/denoise: the two knobs of the config; sss: subsurface
# method of the skin (random_walk_skin = the look; burley = diffusion, fewer rays per sample;
# off = no subsurface); bounces: max light-path bounces; threshold: adaptive sampling noise level;
# prefilter / passes / dn_quality: OpenImageDenoise's guiding-pass prefilter, input passes and
# network size (HIGH, BALANCED, FAST); transparent:
# transparent bounces (lash cards); light_tree; adaptive: adaptive sampling; bump: the skin's
# pore/brow bump (off: the link to the BSDF normal is cut, so Cycles skips its 3 extra evaluations);
# scalp / lips: the painted scalp hair / lip colour (off: the mix factor is cut to 0, so the pattern
# is not compiled); diffuse: diffuse bounces; multiscatter: the skin's multiple-scattering GGX
# (off: single-scattering GGX, a little darker at high roughness);
# margin: eye-region border margin in eye widths around the landmarks (the border always holds
# each eye's trainer crop square); eye_crops: the eye-region defaults of generator/compat.py.
SETTINGS = {
    "s16_dn": {"samples": 16, "denoise": True},  # the defaults before this sweep
    "s8_dn": {"samples": 8, "denoise": True},
    "s4_dn": {"samples": 4, "denoise": True},  # main 55b011f's eye_crops setting
    "s2_dn": {"samples": 2, "denoise": True},
    "s1_dn": {"samples": 1, "denoise": True},
    "s4_dn_burley": {"samples": 4, "denoise": True, "sss": "burley"},
    "s4_dn_nosss": {"samples": 4, "denoise": True, "sss": "off"},
    "s4_dn_b2": {"samples": 4, "denoise": True, "bounces": 2},
    "s2_dn_burley_b2": {"samples": 2, "denoise": True, "sss": "burley", "bounces": 2},
    "s16_nodn": {"samples": 16, "denoise": False},
    "s4_fast": {"samples": 4, "denoise": True, "prefilter": "FAST"},
    "s4_none": {"samples": 4, "denoise": True, "prefilter": "NONE"},
    "s4_albedo": {"samples": 4, "denoise": True, "passes": "RGB_ALBEDO"},
    "s4_rgb": {"samples": 4, "denoise": True, "passes": "RGB"},
    "s4_t2": {"samples": 4, "denoise": True, "transparent": 2},
    "s4_t4": {"samples": 4, "denoise": True, "transparent": 4},
    "s4_nolt": {"samples": 4, "denoise": True, "light_tree": False},
    "s4_noadapt": {"samples": 4, "denoise": True, "adaptive": False},
    "s4_nobump": {"samples": 4, "denoise": True, "bump": False},
    "s4_m0": {"samples": 4, "denoise": True, "margin": 0.0},
    "s4_fast_t2_burley_m0": {"samples": 4, "denoise": True, "prefilter": "FAST", "transparent": 2,
                             "sss": "burley", "margin": 0.0},
    "s2_fast_t2_burley_m0": {"samples": 2, "denoise": True, "prefilter": "FAST", "transparent": 2,
                             "sss": "burley", "margin": 0.0},
    "s4_albedo_fast_t2_nosss_m0": {"samples": 4, "denoise": True, "passes": "RGB_ALBEDO", "prefilter": "FAST",
                                   "transparent": 2, "sss": "off", "margin": 0.0},
    "s2_albedo_fast_t2_nosss_m0": {"samples": 2, "denoise": True, "passes": "RGB_ALBEDO", "prefilter": "FAST",
                                   "transparent": 2, "sss": "off", "margin": 0.0},
    "s4_rgb_t2_nosss_m0": {"samples": 4, "denoise": True, "passes": "RGB", "transparent": 2, "sss": "off",
                           "margin": 0.0},
    "s4_dnfast": {"samples": 4, "denoise": True, "dn_quality": "FAST"},
    "s4_dnbal": {"samples": 4, "denoise": True, "dn_quality": "BALANCED"},
    "s4_dnfast_rgb": {"samples": 4, "denoise": True, "dn_quality": "FAST", "passes": "RGB"},
    "s4_dnfast_albedo_fast": {"samples": 4, "denoise": True, "dn_quality": "FAST", "passes": "RGB_ALBEDO",
                              "prefilter": "FAST"},
    # candidates for the eye-region defaults: no skin SSS, no bump, 2 transparent bounces, tight border
    "e_s4_none": {"samples": 4, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                  "bump": False, "margin": 0.0},
    "e_s4_none_bal": {"samples": 4, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                      "bump": False, "margin": 0.0, "dn_quality": "BALANCED"},
    "e_s4_none_fast": {"samples": 4, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                       "bump": False, "margin": 0.0, "dn_quality": "FAST"},
    "e_s3_none": {"samples": 3, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                  "bump": False, "margin": 0.0},
    "e_s2_none": {"samples": 2, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                  "bump": False, "margin": 0.0},
    "e_s4_albedo": {"samples": 4, "denoise": True, "passes": "RGB_ALBEDO", "prefilter": "NONE", "transparent": 2,
                    "sss": "off", "bump": False, "margin": 0.0},
    "e_s4_accurate": {"samples": 4, "denoise": True, "transparent": 2, "sss": "off", "bump": False, "margin": 0.0},
    "e_s4_none_noscalp": {"samples": 4, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                          "bump": False, "margin": 0.0, "scalp": False},
    "e_s3_none_noscalp": {"samples": 3, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                          "bump": False, "margin": 0.0, "scalp": False},
    "e_noadapt": {**{"samples": 4, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                     "bump": False, "margin": 0.0, "scalp": False, "lips": False}, "adaptive": False},
    "e_ggx": {**{"samples": 4, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                 "bump": False, "margin": 0.0, "scalp": False, "lips": False}, "multiscatter": False},
    "e_b2": {**{"samples": 4, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                "bump": False, "margin": 0.0, "scalp": False, "lips": False}, "bounces": 2},
    "e_d1": {**{"samples": 4, "denoise": True, "prefilter": "NONE", "transparent": 2, "sss": "off",
                "bump": False, "margin": 0.0, "scalp": False, "lips": False}, "diffuse": 1},
    "s8_nodn_t2_nosss_m0": {"samples": 8, "denoise": False, "transparent": 2, "sss": "off", "margin": 0.0},
}
# The reference's light transport: every knob at its richest (the scene's own defaults).
REFERENCE = {"denoise": False, "sss": "random_walk_skin", "bounces": 4, "transparent": 8, "light_tree": True,
             "adaptive": True, "bump": True, "threshold": 0.02, "prefilter": "ACCURATE",
             "passes": "RGB_ALBEDO_NORMAL", "dn_quality": "HIGH", "margin": 0.6, "scalp": True, "lips": True,
             "diffuse": 2, "multiscatter": True}


def eye_crops_setting(samples: int) -> dict:
    """The eye-region defaults this code ships (generator.compat.EYE_CROPS, scene.EYE_REGION_MARGIN)."""
    from generator import compat
    from generator import scene as scene_mod

    c = compat.EYE_CROPS
    return {"samples": int(samples), "denoise": True, "prefilter": c.denoise_prefilter, "dn_quality": c.denoise_quality,
            "transparent": c.transparent_bounces, "sss": "random_walk_skin" if c.skin_subsurface else "off",
            "bump": c.skin_bump, "scalp": c.skin_scalp_hair, "lips": c.skin_lips, "multiscatter": c.skin_multiscatter,
            "margin": scene_mod.EYE_REGION_MARGIN}


def apply_setting(scene, s: dict, sss_weight: float) -> None:
    """Set one candidate on a built FaceScene (through the same compat helpers the scene uses);
    every knob the candidate leaves out is reset to the reference's value."""
    from generator import compat
    from generator import scene as scene_mod

    s = {**REFERENCE, **s}
    cyc = scene.scene.cycles
    cyc.samples = int(s["samples"])
    cyc.use_denoising = bool(s["denoise"]) and compat.has_oidn()
    cyc.max_bounces = int(s["bounces"])
    cyc.transparent_max_bounces = int(s["transparent"])
    cyc.adaptive_threshold = float(s["threshold"])
    cyc.use_adaptive_sampling = bool(s["adaptive"])
    if hasattr(cyc, "use_light_tree"):
        cyc.use_light_tree = bool(s["light_tree"])
    if hasattr(cyc, "denoising_prefilter"):
        cyc.denoising_prefilter = s["prefilter"]
        cyc.denoising_input_passes = s["passes"]
    if hasattr(cyc, "denoising_quality"):
        cyc.denoising_quality = s["dn_quality"]
    bsdf = scene.mats["skin"].node_tree.nodes["skin_bsdf"]
    sss = s["sss"]
    compat.set_subsurface_method(bsdf, low_noise=(sss == "burley"))
    compat.principled_socket(bsdf, "Subsurface Weight").default_value = 0.0 if sss == "off" else sss_weight
    tree = scene.mats["skin"].node_tree
    normal = bsdf.inputs["Normal"]
    for link in list(normal.links):
        tree.links.remove(link)
    if s["bump"]:
        tree.links.new(tree.nodes["skin_bump"].outputs["Normal"], normal)
    if not hasattr(scene, "_bench_mix_sources"):  # the scene is built with the full look: remember it
        lips_mix = tree.nodes["lips_mask"].outputs["Color"].links[0].to_node
        scene._bench_mix_sources = {k: (m.inputs[0], m.inputs[0].links[0].from_socket)
                                    for k, m in (("scalp", tree.nodes["scalp_mix"]), ("lips", lips_mix))}
    for key, (factor, source) in scene._bench_mix_sources.items():
        for link in list(factor.links):
            tree.links.remove(link)
        factor.default_value = 0.0
        if s[key]:
            tree.links.new(source, factor)
    cyc.diffuse_bounces = int(s["diffuse"])
    bsdf.distribution = "MULTI_GGX" if s["multiscatter"] else "GGX"
    scene_mod.EYE_REGION_MARGIN = float(s["margin"])


class _Frames:
    """A ClipSpec restricted to some of its frames (same poses and labels, renumbered 0..n-1)."""

    def __init__(self, spec, frames):
        self._spec, self._frames = spec, list(frames)
        self.n_frames = len(self._frames)

    def __getattr__(self, name):
        return getattr(self._spec, name)

    def frame_state(self, t):
        return self._spec.frame_state(self._frames[t])


def pick_frames(spec):
    """(open frame, closed frame) of a clip with a full blink, or None: the frame of least blink
    weight and the frame of most (>= 0.9: lids touching), so both looks are measured."""
    w = [max(spec.frame_state(t).blink_weight.values()) for t in range(spec.n_frames)]
    closed, opened = max(range(len(w)), key=w.__getitem__), min(range(len(w)), key=w.__getitem__)
    return [opened, closed] if w[closed] >= 0.9 else None


def eye_crops(png: str, row: dict):
    import numpy as np
    from trainer.crops import CropConfig, crop_boxes, crop_eye, read_image

    img = read_image(png)
    cfg = CropConfig(size=48)
    out = []
    for eye in ("left", "right"):
        box = crop_boxes(np.array([[row[f"{eye}_outer_x"], row[f"{eye}_outer_y"]]]),
                         np.array([[row[f"{eye}_inner_x"], row[f"{eye}_inner_y"]]]), cfg)[0]
        out.append(crop_eye(img, box, cfg.size))
    return out


def _cpu_s() -> float:
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=3)
    p.add_argument("--start", type=int, default=0, help="first clip index")
    p.add_argument("--config", default=None, help="config file (default: the built-in defaults)")
    p.add_argument("--resolution", type=int, nargs=2, default=None, metavar=("W", "H"),
                   help="frame size (default: the config's; 350x350 without --config)")
    p.add_argument("--ref-samples", type=int, default=256)
    p.add_argument("--ref-adaptive", type=int, default=0, choices=(0, 1),
                   help="adaptive sampling in the reference (0: every pixel gets --ref-samples; with it on, "
                        "Cycles stops most pixels at ~50 samples and the reference keeps visible noise)")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS) + ["eye_crops"],
                   choices=list(SETTINGS) + ["eye_crops"], help="eye_crops: this code's eye-region defaults")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="keep frames and crops here (default: temp dir, removed); a "
                                                  "reference already rendered there (same clips, frames, samples) is reused")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    import numpy as np
    from skimage.metrics import structural_similarity

    from generator import scene as scene_mod
    from generator.config import load_config
    from generator.sampling import sample_clip

    overrides = {"render.eye_region": True}
    if args.resolution or not args.config:
        overrides["clip.resolution"] = list(args.resolution or (350, 350))
    cfg = load_config(args.config, overrides)
    args.resolution = list(cfg.clip.resolution)
    # Built with the full look (every knob at the reference's value), then switched to eye-region
    # borders: each setting below sets all its knobs itself.
    from dataclasses import replace
    build_cfg = replace(cfg, render=replace(cfg.render, eye_region=False))
    SETTINGS["eye_crops"] = eye_crops_setting(cfg.render.samples)
    scene = scene_mod.FaceScene(build_cfg)
    # Eye-region borders without the scene reconfiguring itself on the first clip (that applied
    # compat.EYE_CROPS to whichever setting came first): apply_setting sets every knob.
    from generator.sampling import RenderSpec
    scene.render_spec = RenderSpec.from_config(cfg.render)
    scene.scene.render.threads_mode = "FIXED"
    scene.scene.render.threads = args.threads
    bsdf = scene.mats["skin"].node_tree.nodes["skin_bsdf"]
    from generator import compat
    sss_weight = float(compat.principled_socket(bsdf, "Subsurface Weight").default_value)
    clips, i = [], args.start
    while len(clips) < args.clips and i < args.start + 200:  # the first clips that hold a full blink
        spec = sample_clip(cfg, i)
        frames = pick_frames(spec)
        if frames:
            clips.append(_Frames(spec, frames))
        i += 1
    out = args.out or tempfile.mkdtemp(prefix="render_quality_")

    def render_all(name, setting, reuse=False):
        apply_setting(scene, setting, sss_weight)
        crops, cpu = [], []
        for clip in clips:
            d = os.path.join(out, name, clip.clip_id)
            saved = os.path.join(d, "rows.json")  # frames + rows + cost of a finished render of this setting
            if reuse and os.path.isfile(saved):
                with open(saved) as f:
                    kept = json.load(f)
                if kept["setting"] == setting and kept["frames"] == clip._frames:
                    rows = kept["rows"]
                    cpu.append(kept["cpu_s_per_frame"])
                    for t, row in enumerate(rows):
                        crops.extend(eye_crops(os.path.join(d, f"{t:04d}.png"), row))
                    continue
            c0 = _cpu_s()
            rows = scene.render_clip(clip, d)
            cpu.append((_cpu_s() - c0) / len(rows))
            with open(saved, "w") as f:
                json.dump({"setting": setting, "frames": clip._frames, "rows": rows, "cpu_s_per_frame": cpu[-1]}, f)
            for t, row in enumerate(rows):
                crops.extend(eye_crops(os.path.join(d, f"{t:04d}.png"), row))
        print(f"{name}: {statistics.median(cpu):.2f} CPU-s/frame", file=sys.stderr, flush=True)
        return crops, cpu

    ref_setting = {"samples": args.ref_samples, "denoise": False, "adaptive": bool(args.ref_adaptive)}
    ref, ref_cpu = render_all("reference", ref_setting, reuse=bool(args.out))
    results = {"reference": {"setting": ref_setting,
                             "cpu_s_per_frame": statistics.median(ref_cpu)}}
    for name in args.settings:
        crops, cpu = render_all(name, SETTINGS[name])
        ssim = [structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in zip(ref, crops)]
        results[name] = {"setting": SETTINGS[name], "cpu_s_per_frame": statistics.median(cpu),
                         "ssim_median": statistics.median(ssim), "ssim_min": min(ssim), "ssim": ssim}
        if args.out:  # side-by-side strip: reference crops over this setting's crops, 4x
            strip = np.concatenate([np.concatenate(ref, 1), np.concatenate(crops, 1)], 0)
            import cv2
            cv2.imwrite(os.path.join(out, f"crops_{name}.png"),
                        cv2.resize(strip[:, :, ::-1], None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST))
    if not args.out:
        import shutil
        shutil.rmtree(out, ignore_errors=True)
    import bpy
    info = {"resolution": list(args.resolution), "clips": [c.clip_id for c in clips],
            "frames": [c._frames for c in clips], "ref_samples": args.ref_samples, "threads": args.threads,
            "blender": bpy.app.version_string, "oidn": compat.has_oidn()}
    print(markdown(info, results))
    if args.json:
        atomic.write_text(args.json, json.dumps({"info": info, "results": results}, indent=1))
    return results


def markdown(info: dict, results: dict) -> str:
    n = sum(len(f) for f in info["frames"])
    lines = [f"Eye-crop quality: {info['resolution'][0]}x{info['resolution'][1]} eye-region renders, {n} frames "
             f"({len(info['clips'])} clips x open/closed) x 2 eyes, 48x48 crops vs {info['ref_samples']} samples "
             f"without denoiser; Blender {info['blender']}, {info['threads']} thread(s), CPU s/frame = median "
             f"per clip (eye region); knobs not listed are the reference's: {REFERENCE}", "",
             "| setting | samples | denoise | other knobs | CPU s/frame | vs s4_dn | SSIM median | SSIM min |",
             "|---|---|---|---|---|---|---|---|"]
    base = results.get("s4_dn", {}).get("cpu_s_per_frame")
    for name, r in results.items():
        s = r["setting"]
        other = ", ".join(f"{k}={v}" for k, v in s.items() if k not in ("samples", "denoise")) or "-"
        speed = f"{base / r['cpu_s_per_frame']:.2f}x" if base and r["cpu_s_per_frame"] > 0 else "-"
        ssim = (f"{r['ssim_median']:.3f} | {r['ssim_min']:.3f}" if "ssim_median" in r else "- | -")
        lines.append(f"| {name} | {s['samples']} | {'on' if s.get('denoise', True) else 'off'} | {other} | "
                     f"{r['cpu_s_per_frame']:.3f} | {speed} | {ssim} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
