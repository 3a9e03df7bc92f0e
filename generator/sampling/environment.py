"""Camera, lights and background of a clip (pure numpy): frozen dataclasses scene.py reads.

Conventions (for scene.py): angles in degrees; the camera looks at the face centre from
``distance_m`` along the face's forward axis, then is shifted so that the face centre lands at
(offset_x, offset_y) off the image centre (x right, y up; fractions of the frame's width and height).
Light azimuth 0 = from the camera's side, positive = toward the subject's left; elevation
positive = from above. Colours are linear Rec.709 RGB (Blender's scene-linear), max channel 1.
A light and a background are one of several kinds (a class each, told apart by ``KIND``).
"""
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Tuple, Union

import numpy as np

from ..config import HDRI_EXTENSIONS, IMAGE_EXTENSIONS, list_media
from .draw import choice as _choice
from .draw import uniform as _uniform


@dataclass(frozen=True)
class CameraSpec:
    distance_m: float  # face centre to the lens
    focal_length_mm: float
    sensor_width_mm: float  # the sensor fits the frame's width
    offset_x: float  # where the face centre lands off the image centre: fraction of the frame width
    offset_y: float  # ...and of its height


@dataclass(frozen=True)
class _Light:
    azimuth_deg: float
    elevation_deg: float
    distance_m: float  # from the point midway between the eyes
    size_m: float  # area: disk diameter; point: radius of the soft shadow; sun: unused (recorded)
    colour_temperature_k: float
    rgb: Tuple[float, float, float]  # kelvin_to_rgb(colour_temperature_k)


@dataclass(frozen=True)
class PointLight(_Light):
    power_w: float
    KIND: ClassVar[str] = "point"


@dataclass(frozen=True)
class AreaLight(_Light):
    power_w: float
    KIND: ClassVar[str] = "area"


@dataclass(frozen=True)
class SunLight(_Light):
    strength: float  # W/m^2
    KIND: ClassVar[str] = "sun"


LightSpec = Union[PointLight, AreaLight, SunLight]
LIGHT_CLASSES = {cls.KIND: cls for cls in (PointLight, AreaLight, SunLight)}


@dataclass(frozen=True)
class _Background:
    blur: float  # background defocus, px (the face stays in focus)
    world_strength: float  # ambient light the background gives (dimmed with the lights in low light)
    distance_m: float  # backdrop plane behind the head (texture/image; recorded for all kinds)


@dataclass(frozen=True)
class TextureBackground(_Background):
    texture_kind: str  # a Blender procedural texture: noise|voronoi|wave|...
    texture_scale: float
    colour_a: Tuple[float, float, float]
    colour_b: Tuple[float, float, float]
    detail: float
    distortion: float
    seed: int  # the texture's own offset, for variety
    KIND: ClassVar[str] = "texture"


@dataclass(frozen=True)
class ImageBackground(_Background):
    path: str  # absolute path of the photo
    flip: bool
    zoom: float
    pan_x: float  # -1..1 of the slack the zoom leaves
    pan_y: float
    KIND: ClassVar[str] = "image"


@dataclass(frozen=True)
class HdriBackground(_Background):
    path: str  # absolute path of the environment map
    rotation_deg: float
    strength: float
    KIND: ClassVar[str] = "hdri"


@dataclass(frozen=True)
class SkyBackground(_Background):
    sun_elevation_deg: float
    sun_rotation_deg: float
    air_density: float
    dust_density: float
    strength: float
    KIND: ClassVar[str] = "sky"


BackgroundSpec = Union[TextureBackground, ImageBackground, HdriBackground, SkyBackground]


# ---------------------------------------------------------------------------- colour temperature

_XYZ_TO_LINEAR_SRGB = np.array([[3.2404542, -1.5371385, -0.4985314],
                                [-0.9692660, 1.8760108, 0.0415560],
                                [0.0556434, -0.2040259, 1.0572252]])


def planckian_xy(kelvin: float) -> Tuple[float, float]:
    """CIE 1931 (x, y) of a black body at ``kelvin`` (Krystek 1985 rational approximation of the
    Planckian locus in CIE 1960 (u, v); accurate to ~1e-4 between 1000 K and 15000 K)."""
    t = float(kelvin)
    u = (0.860117757 + 1.54118254e-4 * t + 1.28641212e-7 * t * t) / (1.0 + 8.42420235e-4 * t + 7.08145163e-7 * t * t)
    v = (0.317398726 + 4.22806245e-5 * t + 4.20481691e-8 * t * t) / (1.0 - 2.89741816e-5 * t + 1.61456053e-7 * t * t)
    d = 2.0 * u - 8.0 * v + 4.0
    return 3.0 * u / d, 2.0 * v / d


def kelvin_to_rgb(kelvin: float) -> Tuple[float, float, float]:
    """Linear Rec.709 RGB of a black body at ``kelvin``, scaled so that the largest channel is 1."""
    x, y = planckian_xy(kelvin)
    xyz = (x / y, 1.0, (1.0 - x - y) / y)
    # plain float arithmetic, not a numpy matmul: BLAS/SIMD builds differ in the last bits, and a
    # clip must be bit-identical whether sampled by Blender's numpy 1.24 or the bpy wheel's 1.26
    rgb = [max(0.0, sum(float(m) * c for m, c in zip(row, xyz))) for row in _XYZ_TO_LINEAR_SRGB]
    top = max(rgb)
    return tuple(c / top for c in rgb)


# ---------------------------------------------------------------------------- camera

def sample_camera(rng: np.random.Generator, ccfg) -> CameraSpec:
    return CameraSpec(
        distance_m=_uniform(rng, ccfg.distance_m),
        focal_length_mm=_uniform(rng, ccfg.focal_length_mm),
        sensor_width_mm=float(ccfg.sensor_width_mm),
        offset_x=float(rng.uniform(-1.0, 1.0) * ccfg.offset_fraction),
        offset_y=float(rng.uniform(-1.0, 1.0) * ccfg.offset_fraction),
    )


def frame_width_m(camera: CameraSpec) -> float:
    """Width of the scene covered by the frame at the face's distance (pinhole, sensor fit = width)."""
    return camera.sensor_width_mm / camera.focal_length_mm * camera.distance_m


def expected_eye_width_px(camera: CameraSpec, image_width_px: int, eye_width_m: float = 0.024) -> float:
    """How wide an eye appears (corner to corner, frontal view): used to check that a config gives
    the detector enough pixels (BlinkFormer crops 48x48 eye patches). 24 mm is the hm08 eye as
    rendered: 27 px at 128 px over a 0.113 m wide frame in a demo render."""
    return eye_width_m / frame_width_m(camera) * image_width_px


# ---------------------------------------------------------------------------- lights

def sample_light_level(rng: np.random.Generator, lcfg) -> Tuple[bool, float]:
    """(low_light, scale of every light and of the ambient world); its own stream, so that the
    light level of a clip does not change when the light rig is sampled differently."""
    low = bool(rng.random() < lcfg.low_light_probability)
    return low, (_uniform(rng, lcfg.low_light_scale) if low else 1.0)


def sample_lights(rng: np.random.Generator, lcfg, scale: float = 1.0) -> Tuple[LightSpec, ...]:
    """The lights, the first is the key. ``scale`` dims them all (low light)."""
    n = int(rng.integers(int(lcfg.count[0]), int(lcfg.count[1]) + 1))
    lights = []
    for i in range(n):
        kind = _choice(rng, lcfg.kind_weights)
        kelvin = _uniform(rng, lcfg.colour_temperature_k)
        power = _uniform(rng, lcfg.sun_strength if kind == "sun" else lcfg.power_w)
        if i > 0:
            power *= float(rng.uniform(0.2, 0.8))  # fill and rim lights are weaker than the key
        placement = dict(azimuth_deg=_uniform(rng, lcfg.azimuth_deg), elevation_deg=_uniform(rng, lcfg.elevation_deg),
                         distance_m=_uniform(rng, lcfg.distance_m),
                         size_m=_uniform(rng, lcfg.area_size_m) if kind == "area" else 0.05,
                         colour_temperature_k=kelvin, rgb=kelvin_to_rgb(kelvin))
        if kind == "sun":
            lights.append(SunLight(strength=power * scale, **placement))
        else:
            lights.append(LIGHT_CLASSES[kind](power_w=power * scale, **placement))
    return tuple(lights)


# ---------------------------------------------------------------------------- background

@lru_cache(maxsize=16)
def _media(folder: str, extensions: Tuple[str, ...]) -> Tuple[str, ...]:
    return tuple(list_media(folder, extensions))  # listed once per process (a million clips, one listdir)


def sample_background(rng: np.random.Generator, bcfg, world_strength=(0.1, 1.0),
                      light_scale: float = 1.0) -> BackgroundSpec:
    """One background of a kind drawn from bcfg.kind_weights; world_strength is the ambient light
    the background gives (dimmed with the lights in a low-light clip)."""
    kind = _choice(rng, bcfg.kind_weights)
    common = dict(blur=_uniform(rng, bcfg.blur), world_strength=_uniform(rng, world_strength) * light_scale,
                  distance_m=float(rng.uniform(0.6, 1.5)))
    if kind == "texture":
        return TextureBackground(
            **common,
            texture_kind=bcfg.texture_kinds[int(rng.integers(len(bcfg.texture_kinds)))],
            texture_scale=_uniform(rng, bcfg.texture_scale),
            colour_a=tuple(float(c) for c in rng.uniform(0.0, 1.0, 3)),
            colour_b=tuple(float(c) for c in rng.uniform(0.0, 1.0, 3)),
            detail=float(rng.uniform(0.0, 8.0)),
            distortion=float(rng.uniform(0.0, 2.0)),
            seed=int(rng.integers(0, 2 ** 31 - 1)))
    if kind == "image":
        names = _media(os.path.abspath(bcfg.image_dir), IMAGE_EXTENSIONS)
        return ImageBackground(
            **common, path=os.path.join(os.path.abspath(bcfg.image_dir), names[int(rng.integers(len(names)))]),
            flip=bool(rng.random() < 0.5), zoom=float(rng.uniform(1.0, 1.5)),
            pan_x=float(rng.uniform(-1.0, 1.0)), pan_y=float(rng.uniform(-1.0, 1.0)))
    if kind == "hdri":
        names = _media(os.path.abspath(bcfg.hdri_dir), HDRI_EXTENSIONS)
        return HdriBackground(
            **common, path=os.path.join(os.path.abspath(bcfg.hdri_dir), names[int(rng.integers(len(names)))]),
            rotation_deg=float(rng.uniform(0.0, 360.0)), strength=_uniform(rng, bcfg.hdri_strength))
    # procedural sky (Blender's Nishita/Hosek sky texture)
    return SkyBackground(**common, sun_elevation_deg=_uniform(rng, bcfg.sky_sun_elevation_deg),
                         sun_rotation_deg=float(rng.uniform(0.0, 360.0)),
                         air_density=float(rng.uniform(0.5, 3.0)), dust_density=float(rng.uniform(0.0, 5.0)),
                         strength=float(rng.uniform(0.2, 1.0)))
