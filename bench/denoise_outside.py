"""Would denoising outside Blender's render call pay? (issue 10; measured, not kept)

    pip install OpenEXR   # not a project dependency: only this probe reads EXR
    python bench/denoise_outside.py --clips 1 2 3 --frames 6

Per eye-region frame (configs/eye_crops.json, 1 render thread), in CPU seconds of this process:
A. Blender as the generator uses it: render with OpenImageDenoise in the render call, PNG write;
B. render with the denoiser off and the denoising passes stored, the noisy/albedo/normal passes
   written to a multilayer EXR in /dev/shm and read back, denoised by one OpenImageDenoise device
   kept for the whole process (the bpy wheel's own libOpenImageDenoise, through ctypes; the
   filter options Cycles uses for prefilter NONE: hdr, cleanAux, quality HIGH) on the eye-region
   border only, then put in a float image and saved through the scene's colour management.
Prints the medians of each part and the mean / max absolute difference of B's PNGs vs A's
inside the border (8-bit levels).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import resource
import statistics
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class PersistentOIDN:
    """One OpenImageDenoise CPU device for the process; a filter per call (its commit is cheap
    once the device has run one: the weights are packed on the first)."""

    def __init__(self, lib_path: str, threads: int = 1):
        lib = ctypes.CDLL(lib_path)
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        lib.oidnNewDevice.restype, lib.oidnNewDevice.argtypes = vp, [ctypes.c_int]
        lib.oidnCommitDevice.argtypes = [vp]
        lib.oidnSetDeviceInt.argtypes = [vp, cp, ctypes.c_int]
        lib.oidnNewFilter.restype, lib.oidnNewFilter.argtypes = vp, [vp, cp]
        lib.oidnSetSharedFilterImage.argtypes = [vp, cp, vp, ctypes.c_int] + [ctypes.c_size_t] * 5
        lib.oidnSetFilterBool.argtypes = [vp, cp, ctypes.c_bool]
        lib.oidnSetFilterInt.argtypes = [vp, cp, ctypes.c_int]
        lib.oidnCommitFilter.argtypes = lib.oidnExecuteFilter.argtypes = lib.oidnReleaseFilter.argtypes = [vp]
        self.lib = lib
        self.device = lib.oidnNewDevice(1)  # OIDN_DEVICE_TYPE_CPU
        lib.oidnSetDeviceInt(self.device, b"numThreads", int(threads))
        lib.oidnCommitDevice(self.device)

    def __call__(self, color: np.ndarray, albedo: np.ndarray, normal: np.ndarray) -> np.ndarray:
        lib = self.lib
        h, w = color.shape[:2]
        out = np.zeros_like(color)
        ins = [np.ascontiguousarray(a, np.float32) for a in (color, albedo, normal)]
        f = lib.oidnNewFilter(self.device, b"RT")
        for name, a in zip((b"color", b"albedo", b"normal", b"output"), ins + [out]):
            lib.oidnSetSharedFilterImage(f, name, a.ctypes.data, 3, w, h, 0, 0, 0)  # OIDN_FORMAT_FLOAT3
        lib.oidnSetFilterBool(f, b"hdr", True)
        lib.oidnSetFilterBool(f, b"cleanAux", True)
        lib.oidnSetFilterInt(f, b"quality", 6)  # OIDN_QUALITY_HIGH
        lib.oidnCommitFilter(f)
        lib.oidnExecuteFilter(f)
        lib.oidnReleaseFilter(f)
        return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=os.path.join(REPO, "configs", "eye_crops.json"))
    p.add_argument("--clips", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--frames", type=int, default=6)
    args = p.parse_args(argv)
    try:
        import OpenEXR
    except ImportError:
        print("denoise_outside: SKIPPED: needs `pip install OpenEXR` (not a project dependency)")
        return {}
    import bpy
    import cv2

    from generator import scene as scene_mod
    from generator.config import load_config
    from generator.sampling import sample_clip

    oidn = PersistentOIDN(_bpy_lib("libOpenImageDenoise.so.2"))
    cfg = load_config(args.config, {"clip.n_frames": args.frames})
    sc = scene_mod.FaceScene(cfg)
    bs = sc.scene
    bs.render.threads_mode, bs.render.threads = "FIXED", 1
    view_layer = bs.view_layers[0]
    out = tempfile.mkdtemp(prefix="denoise_outside_")
    exr = os.path.join("/dev/shm" if os.path.isdir("/dev/shm") else out, f"denoise_outside_{os.getpid()}.exr")
    parts = {k: [] for k in ("A: render + OIDN in the call + PNG", "B: render, denoiser off, passes stored",
                             "B: EXR write + read", "B: OIDN (persistent device)", "B: colour-managed PNG")}
    outside = {"on": False}

    def render_frame_png(path):
        if not outside["on"]:
            c = cpu_s()
            bpy.ops.render.render(write_still=False)
            bpy.data.images["Render Result"].save_render(filepath=path, scene=bs)
            parts["A: render + OIDN in the call + PNG"].append(cpu_s() - c)
            return 0.0, 0.0
        c0 = cpu_s()
        bpy.ops.render.render(write_still=False)
        c1 = cpu_s()
        st = bs.render.image_settings
        st.media_type, st.file_format, st.color_depth, st.exr_codec = "MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER", "32", "NONE"
        bpy.data.images["Render Result"].save_render(filepath=exr, scene=bs)
        st.media_type, st.file_format, st.color_mode, st.color_depth = "IMAGE", "PNG", "RGB", "8"
        with OpenEXR.File(exr, separate_channels=True) as f:
            ch = {k: v.pixels for part in f.parts for k, v in part.channels.items()}

        def get(name, keys):
            return np.stack([ch[f"{view_layer.name}.{name}.{k}"] for k in keys], -1).astype(np.float32)
        color, albedo, normal = get("Combined", "RGB"), get("Denoising Albedo", "RGB"), get("Denoising Normal", "XYZ")
        c2 = cpu_s()
        r = bs.render
        hgt, wid = color.shape[:2]
        x0, x1 = int(np.floor(r.border_min_x * wid)), int(np.ceil(r.border_max_x * wid))
        y0, y1 = int(np.floor((1 - r.border_max_y) * hgt)), int(np.ceil((1 - r.border_min_y) * hgt))
        full = np.zeros((hgt, wid, 4), np.float32)
        full[..., 3] = 1.0
        full[y0:y1, x0:x1, :3] = oidn(color[y0:y1, x0:x1], albedo[y0:y1, x0:x1], normal[y0:y1, x0:x1])
        c3 = cpu_s()
        img = bpy.data.images.get("denoised") or bpy.data.images.new("denoised", wid, hgt, alpha=True, float_buffer=True)
        img.pixels.foreach_set(full[::-1].ravel())  # Blender's rows run bottom-up
        img.save_render(filepath=path, scene=bs)
        c4 = cpu_s()
        for k, v in zip(list(parts)[1:], (c1 - c0, c2 - c1, c3 - c2, c4 - c3)):
            parts[k].append(v)
        return 0.0, 0.0

    sc.render_frame_png = render_frame_png
    diffs = []
    for clip in args.clips:
        spec = sample_clip(cfg, clip)
        for on in (False, True):
            outside["on"] = on
            bs.cycles.use_denoising = not on
            view_layer.cycles.denoising_store_passes = on
            sc.render_clip(spec, os.path.join(out, f"{clip}_{int(on)}"))
        for t in range(args.frames):
            a, b = (cv2.imread(os.path.join(out, f"{clip}_{k}", f"{t:04d}.png")).astype(np.float64) for k in (0, 1))
            inside = a.sum(-1) > 0
            diffs.append((float(np.abs(a - b)[inside].mean()), float(np.abs(a - b).max())))
    med = {k: statistics.median(v) for k, v in parts.items()}
    b_total = sum(v for k, v in med.items() if k.startswith("B"))
    print(f"CPU-s per frame, medians of {len(parts['B: OIDN (persistent device)'])} frames (clips {args.clips}):")
    for k, v in med.items():
        print(f"  {k}: {v:.4f}")
    print(f"  A total {med['A: render + OIDN in the call + PNG']:.4f} vs B total {b_total:.4f}")
    print(f"B vs A inside the border: mean abs diff {np.mean([d[0] for d in diffs]):.2f} levels, "
          f"max {max(d[1] for d in diffs):.0f}")
    return {"parts": med, "diff": diffs}


def _bpy_lib(name: str) -> str:
    """A shared library the bpy wheel ships (site-packages/bpy/lib)."""
    import importlib.util
    spec = importlib.util.find_spec("bpy")
    root = os.path.dirname(spec.origin)  # site-packages/bpy/<version>/scripts/modules/bpy
    while not os.path.exists(os.path.join(root, "lib", name)):
        if os.path.dirname(root) == root:
            raise FileNotFoundError(f"{name}: not found beside the bpy module")
        root = os.path.dirname(root)
    return os.path.join(root, "lib", name)


if __name__ == "__main__":
    main()
