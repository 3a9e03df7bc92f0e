"""Spectacles around the eyes: frame (rims, bridge, temple arms) and lenses as meshes in the head
frame (metres, Z up, the face looks along -Y, the subject's left at +X), built per identity from a
``sampling.identity.Glasses`` and the identity's eyes.

    geo = glasses_geometry(glasses, eye_centres, apex_y, skin_verts)   # numpy only
    geo.frame_verts, geo.frame_faces, geo.lens_verts, geo.lens_faces

The lenses sit ``vertex_distance_m`` in front of the cornea apex, tilted (pantoscopic tilt) and
wrapped a little as real frames are, and are pushed forward wherever the face (nose bridge,
cheeks, brow) would poke through them. The scene parents both meshes to the head rig, so the
glasses follow the head; they take no part in the labels, which come from the face alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

OUTLINE_POINTS = 48  # points round one lens: smooth at the 48 px eye crops, cheap to build
TUBE_SIDES = 6  # cross-section of rims, bridge and temples
PANTOSCOPIC_TILT_DEG = 8.0  # lower rim toward the cheeks, as frames are fitted
WRAP = 4.0  # face-form: outer edge bends back by WRAP * (distance from the inner edge)^2 (1/m)
CLEARANCE_M = 0.003  # lens/frame to skin: nearer than this the whole pair moves forward
MIN_BRIDGE_M = 0.008  # lenses never closer than this over the nose
TEMPLE_LENGTH_M = 0.09  # arms reach back toward the ears (out of the eye crops but for the hinge)


@dataclass(frozen=True)
class GlassesGeometry:
    frame_verts: np.ndarray  # [N, 3] head frame
    frame_faces: list  # quads (vertex index tuples)
    lens_verts: np.ndarray
    lens_faces: list  # triangles
    lens_plane_y: float  # y of the lens centres (before tilt/wrap), for tests and logs


def lens_outline(shape: str, width: float, height: float, n: int = OUTLINE_POINTS) -> np.ndarray:
    """[n, 2] points (u, v) round one lens, centred, u toward the temple, v up, metres,
    counter-clockwise seen from the front. Superellipses: round/oval are ellipses, rectangles
    squarish with round corners; a cat-eye's upper outer corner sweeps up."""
    a, b = width / 2.0, height / 2.0
    p = {"round": 2.0, "oval": 2.3, "rectangle": 4.5, "cateye": 3.0}.get(shape)
    if p is None:
        raise ValueError(f"glasses shape: must be one of round, oval, rectangle, cateye; got {shape!r}")
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    u = a * np.sign(c) * np.abs(c) ** (2.0 / p)
    v = b * np.sign(s) * np.abs(s) ** (2.0 / p)
    if shape == "cateye":
        v = v + 0.35 * b * np.clip(u / a, 0.0, None) ** 2 * np.clip(v / b, 0.0, None)
    return np.stack([u, v], axis=1)


def _tube(path: np.ndarray, normals: np.ndarray, half_w: float, half_d: float, closed: bool, depth_axis=(0.0, 1.0, 0.0)):
    """Vertices and quads of a tube along ``path`` [n, 3] with an elliptical cross-section:
    ``half_w`` along ``normals`` (in the lens plane), ``half_d`` along ``depth_axis``."""
    n = len(path)
    d = np.asarray(depth_axis, float)
    phi = 2.0 * np.pi * np.arange(TUBE_SIDES) / TUBE_SIDES
    ring = (path[:, None, :] + normals[:, None, :] * (half_w * np.cos(phi))[None, :, None]
            + d[None, None, :] * (half_d * np.sin(phi))[None, :, None])
    verts = ring.reshape(-1, 3)
    faces = []
    segs = n if closed else n - 1
    for i in range(segs):
        i2 = (i + 1) % n
        for k in range(TUBE_SIDES):
            k2 = (k + 1) % TUBE_SIDES
            faces.append((i * TUBE_SIDES + k, i * TUBE_SIDES + k2, i2 * TUBE_SIDES + k2, i2 * TUBE_SIDES + k))
    return verts, faces


def _place(uv: np.ndarray, side: float, centre_x: float, centre_z: float, y0: float, inner_u: float) -> np.ndarray:
    """Lens-plane (u, v) -> head frame: u points to the temple (sign ``side``), tilt and wrap applied."""
    u, v = uv[:, 0], uv[:, 1]
    x = side * (centre_x + u)
    z = centre_z + v
    wrap = WRAP * np.clip(u - inner_u, 0.0, None) ** 2
    y = y0 - v * math.tan(math.radians(PANTOSCOPIC_TILT_DEG)) + wrap
    return np.stack([x, y, z], axis=1)


def glasses_geometry(glasses, eye_centres: dict, eye_width_m: float, apex_y: float,
                     skin_verts: np.ndarray) -> GlassesGeometry:
    """Frame and lens meshes for ``glasses`` round the eyes ``eye_centres`` ({"left": xyz, "right":
    xyz}, head frame) whose corner distance is ``eye_width_m``, the lens plane ``vertex_distance_m``
    in front of ``apex_y`` (the cornea apexes' y) and moved forward until ``CLEARANCE_M`` clear of
    ``skin_verts``."""
    w = glasses.lens_width_eyes * eye_width_m
    h, rim = glasses.lens_height_ratio * w, glasses.rim_m
    outline = lens_outline(glasses.shape, w, h)
    eye_x = float(np.mean([abs(c[0]) for c in eye_centres.values()]))
    centre_x = max(eye_x + glasses.lens_offset_m, w / 2.0 + MIN_BRIDGE_M / 2.0)
    bridge = 2.0 * centre_x - w  # the gap between the lenses follows from the fit
    # pupils sit a little above the box centre of fitted frames; slid-down ones sit lower still
    centre_z = float(np.mean([c[2] for c in eye_centres.values()])) - 0.002 - glasses.seat_drop_m
    inner_u = -w / 2.0
    # rim: the outline pushed out by half the rim width (the lens edge sits in the rim's groove)
    nrm = np.roll(outline, -1, axis=0) - np.roll(outline, 1, axis=0)
    nrm = np.stack([nrm[:, 1], -nrm[:, 0]], axis=1)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-12
    rim_uv = outline + nrm * rim / 2.0
    y0 = float(apex_y) - glasses.vertex_distance_m
    # the nearest the face comes in front of any frame point (x, z within 5 mm) sets how far forward
    probe = np.concatenate([_place(rim_uv + nrm * rim / 2.0 * k, s, centre_x, centre_z, 0.0, inner_u)
                            for s in (1.0, -1.0) for k in (-1.0, 0.0, 1.0)])
    probe = np.concatenate([probe, [[0.0, 0.0, centre_z + 0.3 * h]]])  # the bridge over the nose
    sv = np.asarray(skin_verts, float)
    box = (np.abs(sv[:, 2] - centre_z) < h) & (np.abs(sv[:, 0]) < centre_x + w)
    sv = sv[box]
    if len(sv):
        dxz = np.hypot(probe[:, None, 0] - sv[None, :, 0], probe[:, None, 2] - sv[None, :, 2])
        near = dxz < 0.005
        # frame point at y0 + offset must stay in front of skin y - clearance: y0 <= skin_y - offset - clearance
        limit = np.where(near, sv[None, :, 1] - probe[:, None, 1] - CLEARANCE_M - rim, np.inf).min()
        y0 = min(y0, float(limit))
    verts, faces = [], []

    def add(v, f):
        base = sum(len(a) for a in verts)
        verts.append(v)
        faces.extend(tuple(i + base for i in q) for q in f)

    half_d = max(rim * (0.5 if glasses.metal else 0.6), 0.0006)  # acetate rims are deep as well as wide
    lens_v, lens_f = [], []
    for side in (1.0, -1.0):
        path = _place(rim_uv, side, centre_x, centre_z, y0, inner_u)
        n3 = _place(rim_uv + nrm, side, centre_x, centre_z, y0, inner_u) - path
        n3 /= np.linalg.norm(n3, axis=1, keepdims=True)
        add(*_tube(path, n3, rim / 2.0, half_d, closed=True))
        # lens: a fan from the centre, bulging ~1.5 mm forward in the middle (base curve)
        ring = _place(outline, side, centre_x, centre_z, y0, inner_u)
        centre = _place(np.zeros((1, 2)), side, centre_x, centre_z, y0 - 0.0015, inner_u)
        base = sum(len(a) for a in lens_v)
        lens_v.append(np.concatenate([centre, ring]))
        n = len(ring)
        for i in range(n):
            a, b = base + 1 + i, base + 1 + (i + 1) % n
            lens_f.append((base, a, b) if side > 0 else (base, b, a))
        # temple arm: from the outer rim, just above the middle, back toward the ear
        k = int(np.argmax(rim_uv[:, 0] - 0.5 * np.abs(rim_uv[:, 1] - 0.25 * h)))
        start = path[k]
        t = np.linspace(0.0, 1.0, 8)[:, None]
        arm = start + t * np.array([side * 0.008, TEMPLE_LENGTH_M, 0.004])
        arm_n = np.tile([side * 1.0, 0.0, 0.0], (len(arm), 1))
        add(*_tube(arm, arm_n, max(rim * 0.35, 0.0006), max(rim * 0.7, 0.0012), closed=False, depth_axis=(0.0, 0.0, 1.0)))
    # bridge: an arch from one rim's inner top to the other's, a little forward of the lenses
    tb = np.linspace(-1.0, 1.0, 9)
    bx = tb * (bridge / 2.0 + rim / 2.0)
    bz = centre_z + 0.28 * h + 0.003 * (1.0 - tb ** 2)
    by = y0 - 0.002 * (1.0 - tb ** 2)
    bpath = np.stack([bx, by, bz], axis=1)
    add(*_tube(bpath, np.tile([0.0, 0.0, 1.0], (len(bpath), 1)), max(rim / 2.0, 0.0008), half_d, closed=False))
    return GlassesGeometry(frame_verts=np.concatenate(verts), frame_faces=faces,
                           lens_verts=np.concatenate(lens_v), lens_faces=lens_f, lens_plane_y=y0)
