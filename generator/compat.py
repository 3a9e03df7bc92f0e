"""Every Blender-version difference the generator depends on, in one place.

Supported: Debian's Blender 3.4 binary (system Python 3.10/3.11, no OpenImageDenoise),
Blender 4.2 LTS to 5.x, and the ``bpy`` 5.0.1 wheel. Everything else in ``generator/``
calls these helpers instead of testing ``bpy.app.version`` itself, so adding a Blender
release means editing this file only. Python 3.10 compatible; imports bpy lazily.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import bpy

VERSION = tuple(bpy.app.version[:2])  # (major, minor), e.g. (3, 4) or (5, 0)

# Principled BSDF input names: the 4.0 redesign renamed several sockets. Code everywhere
# uses the 4.x names; on 3.x they are translated here.
_PRINCIPLED_3X = {
    "Subsurface Weight": "Subsurface",
    "Specular IOR Level": "Specular",
    "Emission Color": "Emission",
    "Coat Weight": "Clearcoat",
    "Coat Roughness": "Clearcoat Roughness",
    "Coat Normal": "Clearcoat Normal",
    "Transmission Weight": "Transmission",
    "Sheen Weight": "Sheen",
}


def principled_socket(node, name: str):
    """Input socket of a Principled BSDF by its 4.x name, or None where this Blender lacks it."""
    if VERSION < (4, 0):
        name = _PRINCIPLED_3X.get(name, name)
    return node.inputs.get(name)


def set_principled(node, **values) -> None:
    """Set Principled inputs by 4.x name (underscores for spaces): ``Subsurface_Weight=0.2``.

    Inputs this Blender does not have (e.g. ``Coat_IOR`` on 3.4) are skipped: they are
    refinements, not something a render depends on. A 3.x subsurface colour is taken from the
    base colour, as 4.x does.
    """
    for key, value in values.items():
        sock = principled_socket(node, key.replace("_", " "))
        if sock is not None:
            sock.default_value = value
    if VERSION < (4, 0) and "Base_Color" in values and node.inputs.get("Subsurface Color"):
        node.inputs["Subsurface Color"].default_value = values["Base_Color"]
    # The 4.x skin-specific random walk keeps pores sharp; 3.x has plain random walk.
    for method in ("RANDOM_WALK_SKIN", "RANDOM_WALK"):
        try:
            node.subsurface_method = method
            break
        except TypeError:
            continue


def new_material(name: str):
    """A material with a node tree (``use_nodes`` is implicit and deprecated in 5.0)."""
    mat = bpy.data.materials.new(name)
    if VERSION < (5, 0):
        mat.use_nodes = True
    return mat


def new_world(name: str):
    world = bpy.data.worlds.new(name)
    if VERSION < (5, 0):
        world.use_nodes = True
    return world


def mix_rgb(nodes, blend: str = "MIX"):
    """A colour mix node and its (fac, a, b, result) sockets.

    ShaderNodeMix (3.4+) has one socket set per data type, so the RGBA ones are picked by type.
    """
    node = nodes.new("ShaderNodeMix")
    node.data_type = "RGBA"
    node.blend_type = blend
    ins = [s for s in node.inputs if s.type == "RGBA"]
    out = [s for s in node.outputs if s.type == "RGBA"][0]
    return node, node.inputs["Factor"] if "Factor" in node.inputs else node.inputs[0], ins[0], ins[1], out


def engine_name(kind: str) -> str:
    """Render engine identifier for 'cycles' | 'eevee' | 'workbench' on this Blender."""
    kind = kind.lower()
    if kind == "cycles":
        return "CYCLES"
    if kind == "workbench":
        return "BLENDER_WORKBENCH"
    if kind == "eevee":
        # 4.2-4.4 called the rewritten Eevee BLENDER_EEVEE_NEXT; 3.x and 4.5+ call it BLENDER_EEVEE.
        return "BLENDER_EEVEE_NEXT" if (4, 2) <= VERSION < (4, 5) else "BLENDER_EEVEE"
    raise ValueError(f"render.engine: must be one of cycles, eevee, workbench; got {kind!r}")


def set_view_transform(scene, look: str = "auto") -> str:
    """Filmic-like tone mapping: AgX from 4.0, Filmic before. Returns the one set."""
    candidates = ["AgX", "Filmic", "Standard"] if look == "auto" else [look, "Standard"]
    for name in candidates:
        try:
            scene.view_settings.view_transform = name
            return name
        except TypeError:
            continue
    return scene.view_settings.view_transform


def has_oidn() -> bool:
    """OpenImageDenoise is compiled in (bpy wheel: yes; Debian's 3.4: no)."""
    try:
        import _cycles
        return bool(getattr(_cycles, "with_openimagedenoise", False))
    except ImportError:
        return False


@dataclass(frozen=True)
class CyclesCost:
    """The Cycles knobs that trade render cost for look. FULL_LOOK is for frames a person looks
    at; EYE_CROPS for eye-region mode, whose frames exist only to be cut into the trainer's
    48x48 eye crops: each of its changes was kept only where those crops stay as close to a
    256-sample reference as main 55b011f's did (SSIM median 0.975 vs 0.973, min 0.935 vs 0.936:
    bench/render_quality.py; costs in bench/render_profile.py, BENCHMARKS.md)."""
    transparent_bounces: int = 8  # eyelash alpha layers
    denoise_prefilter: str = "ACCURATE"  # OIDN denoises the albedo/normal guides first (2 more networks)
    denoise_quality: str = "HIGH"  # OIDN network size (Blender 4.1+)
    skin_subsurface: bool = True  # random-walk skin SSS (FaceScene applies the skin knobs)
    skin_bump: bool = True  # pores and brow relief as a bump (3 evaluations of the skin pattern)
    skin_scalp_hair: bool = True  # painted scalp hair: never inside an eye crop (~7 cm above the eyes)
    skin_lips: bool = True  # the lips' colour (an image texture): never inside an eye crop
    skin_multiscatter: bool = True  # multiple-scattering GGX specular (single: ~10% cheaper, a shade darker)


FULL_LOOK = CyclesCost()
EYE_CROPS = CyclesCost(transparent_bounces=2, denoise_prefilter="NONE", skin_subsurface=False, skin_bump=False,
                       skin_scalp_hair=False, skin_lips=False, skin_multiscatter=False)


def configure_cycles(scene, samples: int, threads: int = 0, seed: int = 0,
                     denoise: bool = True, max_bounces: int = 4, cost: CyclesCost = FULL_LOOK) -> dict:
    """Cycles on the CPU with adaptive sampling, few bounces (a small scene), and
    OpenImageDenoise where it exists. Returns what was actually set, for logs/benchmarks."""
    scene.render.engine = "CYCLES"
    cyc = scene.cycles
    cyc.device = "CPU"
    cyc.samples = int(samples)
    cyc.use_adaptive_sampling = True
    cyc.adaptive_threshold = 0.02
    cyc.seed = int(seed)
    cyc.use_animated_seed = False
    cyc.max_bounces = max_bounces
    cyc.diffuse_bounces = 2
    cyc.glossy_bounces = 2
    cyc.transmission_bounces = 2
    cyc.transparent_max_bounces = cost.transparent_bounces
    cyc.volume_bounces = 0
    cyc.caustics_reflective = False
    cyc.caustics_refractive = False
    cyc.sample_clamp_indirect = 5.0  # kills fireflies from the glossy cornea at low samples
    if hasattr(cyc, "use_light_tree"):
        cyc.use_light_tree = True
    use_dn = bool(denoise and has_oidn())
    cyc.use_denoising = use_dn
    if use_dn:
        cyc.denoiser = "OPENIMAGEDENOISE"
        if hasattr(cyc, "denoising_use_gpu"):
            cyc.denoising_use_gpu = False
        if hasattr(cyc, "denoising_input_passes"):
            cyc.denoising_input_passes = "RGB_ALBEDO_NORMAL"  # RGB or RGB_ALBEDO alone: eye crops fall below SSIM 0.95
        if hasattr(cyc, "denoising_prefilter"):
            cyc.denoising_prefilter = cost.denoise_prefilter
        if hasattr(cyc, "denoising_quality"):
            cyc.denoising_quality = cost.denoise_quality
    scene.render.threads_mode = "FIXED" if threads else "AUTO"
    if threads:
        scene.render.threads = int(threads)
    # Persistent data keeps the BVH/shaders between frames of a clip: only vertices move.
    scene.render.use_persistent_data = True
    return {"engine": "CYCLES", "samples": int(samples), "denoise": use_dn}


GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI")  # Cycles' GPU backends, preferred first
DEVICES = ("cpu", "gpu", "auto")


class DeviceError(RuntimeError):
    """``render.device = gpu`` on a machine (or a Blender build) where Cycles finds no GPU."""


def gpu_devices() -> list:
    """[(backend, [device id, ...])] of the GPU backends this Blender was built with and that
    found a device, in GPU_BACKENDS order. Asks Cycles itself (``_cycles.available_devices``),
    which lists only devices whose drivers load; the CPU entry every backend repeats is skipped."""
    try:
        import _cycles
    except ImportError:
        return []
    found = []
    for backend in GPU_BACKENDS:
        try:
            ids = [d[2] for d in _cycles.available_devices(backend) if d[1] == backend]
        except (TypeError, ValueError, RuntimeError):
            continue
        if ids:
            found.append((backend, ids))
    return found


def select_device(scene, device: str = "cpu", worker_index: int = 0) -> dict:
    """Cycles on the CPU (``cpu``), on the first GPU backend found (``gpu``: DeviceError when
    none), or on a GPU when there is one and the CPU otherwise (``auto``: one line on stderr
    says so). With several GPUs, worker ``worker_index`` takes GPU ``worker_index % count``,
    so ``--workers N`` spreads N processes round-robin over the GPUs.
    Returns {"device": "CPU" | backend, "gpu": device id or None}."""
    import sys
    device = str(device).lower()
    if device not in DEVICES:
        raise ValueError(f"render.device: must be one of {', '.join(DEVICES)}; got {device!r}")
    cyc = scene.cycles
    found = gpu_devices() if device != "cpu" else []
    if not found:
        if device == "gpu":
            raise DeviceError(f"render.device=gpu: Cycles in Blender {bpy.app.version_string} finds no GPU "
                              f"({', '.join(GPU_BACKENDS)}: no device or no driver); use --device cpu or auto")
        if device == "auto":
            print(f"synblink: render.device=auto: no GPU for Cycles ({'/'.join(GPU_BACKENDS)}), "
                  f"rendering on the CPU", file=sys.stderr, flush=True)
        cyc.device = "CPU"
        return {"device": "CPU", "gpu": None}
    backend, ids = found[0]
    chosen = ids[int(worker_index) % len(ids)]
    prefs = bpy.context.preferences.addons["cycles"].preferences
    prefs.compute_device_type = backend
    prefs.refresh_devices()
    for d in prefs.devices:
        d.use = d.id == chosen  # one GPU per worker; the CPU does not join (it would slow a GPU render)
    cyc.device = "GPU"
    if hasattr(cyc, "denoising_use_gpu"):
        cyc.denoising_use_gpu = True
    return {"device": backend, "gpu": chosen}


def configure_eevee(scene, samples: int) -> dict:
    scene.render.engine = engine_name("eevee")
    ee = scene.eevee
    ee.taa_render_samples = int(samples)
    return {"engine": scene.render.engine, "samples": int(samples), "denoise": False}


def configure_workbench(scene) -> dict:
    scene.render.engine = "BLENDER_WORKBENCH"
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "MATERIAL"
    return {"engine": "BLENDER_WORKBENCH", "samples": 1, "denoise": False}


def shade_smooth(mesh) -> None:
    """Smooth shading for every face; 4.1 removed use_auto_smooth (smooth is per face only)."""
    n = len(mesh.polygons)
    mesh.polygons.foreach_set("use_smooth", [True] * n)
    if VERSION < (4, 1) and hasattr(mesh, "use_auto_smooth"):
        mesh.use_auto_smooth = False


def set_png_output(scene, color_depth: str = "8") -> None:
    settings = scene.render.image_settings
    if VERSION >= (5, 0) and hasattr(settings, "media_type"):
        settings.media_type = "IMAGE"  # 5.0 splits image/video output
    settings.file_format = "PNG"
    settings.color_mode = "RGB"
    settings.color_depth = color_depth
    settings.compression = 15  # fast write, ~same size; writing is on the per-frame path


def load_image(path: str):
    """Load an image datablock once (check_existing), with a clear error naming the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image not found: {path}")
    try:
        return bpy.data.images.load(path, check_existing=True)
    except RuntimeError as exc:
        raise RuntimeError(f"cannot read image {path}: {exc}") from exc


def blend_mode_alpha(mat) -> None:
    """Alpha-tested/blended material for Eevee (eyelashes); Cycles ignores it."""
    if hasattr(mat, "surface_render_method"):  # 4.2+
        mat.surface_render_method = "DITHERED"
    elif hasattr(mat, "blend_method"):
        mat.blend_method = "HASHED"
    if hasattr(mat, "shadow_method"):
        mat.shadow_method = "HASHED"


def reset_factory(empty: bool = True) -> None:
    """Start from an empty file (also drops the default cube/camera/light)."""
    bpy.ops.wm.read_factory_settings(use_empty=empty)


def setup_sky(node, elevation_deg: float, rotation_deg: float, air: float = 1.0, dust: float = 1.0) -> None:
    """Physical sky: Nishita on 3.x/4.x, single scattering on 5.x (Nishita's successor; dust was
    renamed aerosol). The sun disc is off: the lamps light the face, the sky is ambient."""
    import math
    for sky_type in ("SINGLE_SCATTERING", "NISHITA"):
        try:
            node.sky_type = sky_type
            break
        except TypeError:
            continue
    node.sun_disc = False
    node.sun_elevation = math.radians(elevation_deg)
    node.sun_rotation = math.radians(rotation_deg)
    node.air_density = float(air)
    if hasattr(node, "aerosol_density"):
        node.aerosol_density = float(dust)
    elif hasattr(node, "dust_density"):
        node.dust_density = float(dust)


def set_world_sampling(world, importance: bool, resolution: int = 256) -> None:
    """Cycles' world importance map: rebuilt whenever the world changes (every clip), ~3 CPU-s at
    the default 1024 for a sky. A flat ambient colour needs none; a sky/HDRI gets a small map."""
    cw = getattr(world, "cycles", None)
    if cw is None or not hasattr(cw, "sampling_method"):
        return
    if importance:
        cw.sampling_method = "MANUAL"
        cw.sample_map_resolution = int(resolution)
    else:
        cw.sampling_method = "NONE"


def set_image_extension(node, mode: str) -> None:
    """Image texture edge mode; MIRROR exists from 3.5, older Blenders fall back to EXTEND."""
    try:
        node.extension = mode
    except TypeError:
        node.extension = "EXTEND"


def set_subsurface_method(node, low_noise: bool) -> None:
    """Random walk (skin variant on 4.x) looks best but is noisy at low samples; without a
    denoiser (Debian's 3.4 has no OpenImageDenoise) the diffusion-based Christensen-Burley is
    far less noisy at the same sample count."""
    order = ("BURLEY", "RANDOM_WALK") if low_noise else ("RANDOM_WALK_SKIN", "RANDOM_WALK")
    for method in order:
        try:
            node.subsurface_method = method
            return
        except TypeError:
            continue


def camera_only(obj, mat=None) -> None:
    """Seen by the camera only: an emissive backdrop would otherwise be a huge area light that
    Cycles samples (noise on the face, slower); the world light stands in for its bounce."""
    for attr in ("visible_diffuse", "visible_glossy", "visible_transmission", "visible_volume_scatter",
                 "visible_shadow"):
        if hasattr(obj, attr):
            setattr(obj, attr, False)
    if mat is not None:
        cm = getattr(mat, "cycles", None)
        if cm is not None and hasattr(cm, "emission_sampling"):  # 4.0+
            cm.emission_sampling = "NONE"
        elif cm is not None and hasattr(cm, "sample_as_light"):  # 3.x
            cm.sample_as_light = False


def glossy_node_idname() -> str:
    """The Glossy BSDF node's type name: Blender 4.0 merged Anisotropic into Glossy under the
    Anisotropic idname (bpy 5.0 has no ShaderNodeBsdfGlossy); 3.x has both."""
    return "ShaderNodeBsdfGlossy" if hasattr(bpy.types, "ShaderNodeBsdfGlossy") else "ShaderNodeBsdfAnisotropic"
