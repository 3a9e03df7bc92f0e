"""Eye-region realism parameters (issue 12): iris/sclera/periocular detail, brow shape and glasses
are drawn per identity from the subject seed, within their ranges; the glasses probability is
respected (0 turns them off) and never changes anything else about a face; the glasses mesh sits
in front of the eyes and clear of the skin."""
import dataclasses

import numpy as np
import pytest

from generator.config import ConfigError, GeneratorConfig, load_config
from generator.glasses import glasses_geometry, lens_outline
from generator.sampling import from_json, to_json
from generator.sampling.identity import (GLASSES_SHAPES, BrowShape, EyeDetail, Identity, sample_identity,
                                         subject_seed_for)


def _people(n, cfg):
    return [sample_identity(subject_seed_for(cfg, i), cfg, i) for i in range(n)]


def _face(model, person):
    """The rest geometry the scene fits glasses and make-up to: identity vertices, eye centres,
    the corneas' apex y, the corner distance (mean of both eyes) and the skin vertices."""
    iv = np.asarray(model.identity_vertices(person.macros(), person.details))
    eyes = ("left", "right")
    centres = {e: model.eye_centre(iv, e) for e in eyes}
    apex_y = min(float(model.pupil(iv, e)[1]) for e in eyes)
    li = model.landmark_index
    width = float(np.mean([np.linalg.norm(iv[li[e]["outer"]] - iv[li[e]["inner"]]) for e in eyes]))
    skin = iv[np.unique(model.part_faces("skin"))]
    return iv, centres, apex_y, width, skin


def test_eye_detail_brows_and_glasses_are_seeded_per_identity():
    cfg = load_config(None, {"identity.glasses_probability": 0.5})
    a = _people(40, cfg)
    b = _people(40, cfg)
    assert a == b  # same seeds, same people
    for p in a:
        assert isinstance(p.eye_detail, EyeDetail) and isinstance(p.brow_shape, BrowShape)
        assert from_json(Identity, to_json(p)) == p  # a clips.csv row gives the same person back
    # different people look different: no two subjects share their iris/brow draws
    assert len({p.eye_detail for p in a}) == len(a) and len({p.brow_shape for p in a}) == len(a)
    assert {p.glasses is None for p in a} == {True, False}
    other = _people(40, load_config(None, {"identity.glasses_probability": 0.5, "seed": 1}))
    assert all(x.eye_detail != y.eye_detail for x, y in zip(a, other))


def test_eye_detail_values_in_range():
    people = _people(300, load_config(None, {"identity.glasses_probability": 1.0}))
    for p in people:
        d, s, g = p.eye_detail, p.brow_shape, p.glasses
        for c in d.iris_inner_colour + d.sclera_colour + d.caruncle_colour + g.frame_colour + g.lens_tint:
            assert 0.0 <= c <= 1.0
        assert min(d.sclera_colour) > 0.4  # a sclera is whitish, never grey-dark
        for v in (d.iris_fibre_contrast, d.iris_crypts, d.limbal_ring, d.sclera_veins, d.tear_film, d.skin_grain,
                  d.skin_freckles, d.periorbital_darkening, d.wrinkle_depth, s.peak, s.taper, s.coarseness):
            assert 0.0 <= v <= 1.0
        assert 0.3 < d.collarette_radius < 0.7 and 0.3 < s.height < 1.0 and 1.0 < s.length < 1.5
        assert g.shape in GLASSES_SHAPES and 1.4 < g.lens_width_eyes < 2.1 and 0.0005 < g.rim_m < 0.006
        assert 0.0 < g.lens_reflection <= 1.0
        assert -0.001 <= g.seat_drop_m <= 0.009
        assert 0.36 <= d.iris_width_fraction <= 0.46  # real irises span ~0.4 of the eye's opening
    assert np.mean([p.eye_detail.iris_width_fraction for p in people]) == pytest.approx(0.41, abs=0.01)
    # most frames sit where they were fitted; ~40% have slid down the nose (2-9 mm)
    assert np.mean([p.glasses.seat_drop_m > 0.002 for p in people]) == pytest.approx(0.4, abs=0.08)
    # the limbal ring fades with age
    young = [p.eye_detail.limbal_ring for p in people if p.age_years < 30]
    old = [p.eye_detail.limbal_ring for p in people if p.age_years > 60]
    assert np.mean(young) > np.mean(old) + 0.2


@pytest.mark.parametrize("p", [0.0, 0.15, 1.0])
def test_glasses_probability_is_respected(p):
    people = _people(1500, load_config(None, {"identity.glasses_probability": p}))
    share = np.mean([q.glasses is not None for q in people])
    # binomial standard deviation at n = 1500 is <= 0.013: 3 sigma
    assert abs(share - p) <= 0.04


def test_glasses_probability_changes_nothing_else():
    off = _people(60, load_config(None, {"identity.glasses_probability": 0.0}))
    on = _people(60, load_config(None, {"identity.glasses_probability": 1.0}))
    half = _people(60, load_config(None, {"identity.glasses_probability": 0.5}))
    for a, b, c in zip(off, on, half):
        assert a.glasses is None and b.glasses is not None
        assert dataclasses.replace(b, glasses=None) == a  # the same face, with or without glasses
        assert c.glasses is None or c.glasses == b.glasses  # whoever wears them wears the same pair


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_glasses_probability_is_validated(value):
    with pytest.raises(ConfigError) as exc:
        load_config(None, {"identity.glasses_probability": value}).validate()
    assert exc.value.field == "identity.glasses_probability"


@pytest.mark.parametrize("shape", GLASSES_SHAPES)
def test_lens_outlines_fit_their_box(shape):
    pts = lens_outline(shape, 0.04, 0.03)
    assert np.abs(pts[:, 0]).max() == pytest.approx(0.02, rel=1e-6)
    assert pts[:, 1].min() == pytest.approx(-0.015, rel=1e-6)
    assert pts[:, 1].max() <= 0.015 * 1.36  # a cat-eye's upper outer corner sweeps up
    with pytest.raises(ValueError, match="glasses shape"):
        lens_outline("monocle", 0.04, 0.03)


def test_glasses_sit_in_front_of_the_eyes_and_clear_of_the_skin():
    from generator.face_model import FaceModel

    model = FaceModel.load()
    cfg = load_config(None, {"identity.glasses_probability": 1.0})
    for person in _people(6, cfg):
        iv, centres, apex_y, width, skin = _face(model, person)
        geo = glasses_geometry(person.glasses, centres, width, apex_y, skin)
        # the lens plane is at least the vertex distance in front of the corneas (-y is forward)
        assert geo.lens_plane_y <= apex_y - person.glasses.vertex_distance_m + 1e-9
        # both halves mirror each other
        assert geo.lens_verts[:, 0].max() == pytest.approx(-geo.lens_verts[:, 0].min(), abs=1e-9)
        # no frame or lens point is inside the face: skin within 3 mm (x, z) of any glasses point
        # lies behind it
        pts = np.concatenate([geo.frame_verts, geo.lens_verts])
        pts = pts[pts[:, 1] < apex_y + 0.005]  # the temple arms run back past the face on purpose
        dxz = np.hypot(pts[:, None, 0] - skin[None, :, 0], pts[:, None, 2] - skin[None, :, 2])
        near = dxz < 0.003
        gap = np.where(near, skin[None, :, 1] - pts[:, None, 1], np.inf)
        assert gap.min() > 0.0, person.subject_id
        # each lens is centred close to its eye (frames are fitted to the pupils)
        for side, e in ((1.0, "left"), (-1.0, "right")):
            half = geo.lens_verts[np.sign(geo.lens_verts[:, 0]) == side]
            assert abs(half[:, 0].mean() - centres[e][0]) < 0.006


def test_slid_down_glasses_sit_lower_by_their_drop():
    """A pair slid down the nose is the same pair, lower by seat_drop_m: its top rim comes down
    toward the upper lid (where real videos show rims crossing open eyes)."""
    from generator.face_model import FaceModel

    model = FaceModel.load()
    person = _people(1, load_config(None, {"identity.glasses_probability": 1.0}))[0]
    iv, centres, apex_y, width, skin = _face(model, person)
    fitted = glasses_geometry(dataclasses.replace(person.glasses, seat_drop_m=0.0), centres, width, apex_y, skin)
    slid = glasses_geometry(dataclasses.replace(person.glasses, seat_drop_m=0.008), centres, width, apex_y, skin)
    assert slid.lens_verts[:, 2].max() == pytest.approx(fitted.lens_verts[:, 2].max() - 0.008, abs=1e-9)
    assert slid.frame_verts[:, 2].min() < fitted.frame_verts[:, 2].min() - 0.007
    eye_z = float(np.mean([c[2] for c in centres.values()]))
    assert slid.lens_verts[:, 2].max() - eye_z < fitted.lens_verts[:, 2].max() - eye_z


def test_default_config_has_glasses_probability():
    assert GeneratorConfig().identity.glasses_probability == pytest.approx(0.15)


def _grid(front_y=-0.05):
    xs, zs = np.meshgrid(np.linspace(-0.07, 0.07, 141), np.linspace(-0.03, 0.06, 181))
    return np.stack([xs.ravel(), np.full(xs.size, front_y - 0.01), zs.ravel()], axis=1)


def _brow_shape(**kw):
    base = dict(height=0.6, peak=0.6, tail_drop=0.1, taper=0.5, inner_gap=0.0, length=1.2, hair_angle_deg=25.0,
                coarseness=0.5)
    base.update(kw)
    return BrowShape(**base)


def test_brows_lie_above_the_eyes_mirrored_and_follow_their_shape():
    from generator.periocular import brow_attributes
    v = _grid()
    inner, outer = (0.015, 0.0, 0.0), (0.040, 0.0, 0.0)  # W = 25 mm
    st, hair = brow_attributes(v, inner, outer, -0.05, 1.0, 1.0, _brow_shape())
    inside = (st[:, 0] > 0.5) & (np.abs(st[:, 1]) < 1.0)
    assert inside.any()
    x, z = v[inside, 0], v[inside, 2]
    assert z.min() > 0.006 and z.max() < 0.03  # above the corner line, below the forehead
    assert np.abs(x).min() >= 0.0149 and np.abs(x).max() <= 0.015 + 1.2 * 0.025 + 0.002  # head .. tail
    left, right = np.sort(x[x > 0]), np.sort(-x[x < 0])
    np.testing.assert_allclose(left, right)  # the two brows mirror each other
    # thick at the head, tapering to the tail
    head = inside & (np.abs(v[:, 0]) < 0.019)
    tail = inside & (np.abs(v[:, 0]) > 0.040)
    assert np.ptp(v[head, 2]) > 1.5 * np.ptp(v[tail, 2])
    # a higher brow sits higher; a thicker one covers more; nothing behind front_y
    hi, _ = brow_attributes(v, inner, outer, -0.05, 1.0, 1.0, _brow_shape(height=0.8))
    thick, _ = brow_attributes(v, inner, outer, -0.05, 1.4, 1.0, _brow_shape())
    hi_in = (hi[:, 0] > 0.5) & (np.abs(hi[:, 1]) < 1.0)
    thick_in = (thick[:, 0] > 0.5) & (np.abs(thick[:, 1]) < 1.0)
    assert v[hi_in, 2].mean() == pytest.approx(z.mean() + 0.2 * 0.025, abs=0.0015)
    assert thick_in.sum() > 1.3 * inside.sum()
    behind, _ = brow_attributes(v, inner, outer, -0.07, 1.0, 1.0, _brow_shape())
    assert behind[:, 0].max() == 0.0
    # the hair coordinates are the point rotated to the hair direction: their scale is fixed
    assert np.isfinite(hair).all() and np.ptp(hair[inside, 0]) > 10.0


def test_periocular_masks_ring_the_eye():
    from generator.periocular import periocular_attributes
    v = _grid()
    zeros = np.zeros(len(v))
    masks, lines = periocular_attributes(v, 0.03, 0.0, zeros, zeros)
    ring = masks[:, 2]
    at = lambda x, z: int(np.argmin(np.hypot(v[:, 0] - x, v[:, 2] - z)))  # noqa: E731
    assert ring[at(0.03, 0.0)] == 0.0 and ring[at(-0.03, 0.0)] == 0.0  # not over the eye itself
    assert ring[at(0.03, -0.014)] > 0.5 and ring[at(-0.03, -0.014)] > 0.5  # the dark circle below
    assert ring[at(0.03, 0.05)] == 0.0  # nor up on the forehead
    crow, under = lines[:, 1], lines[:, 2]
    assert crow[at(0.057, 0.0)] == 1.0 and crow[at(0.03, 0.0)] == 0.0  # crow's feet at the outer corner
    assert under[at(0.03, -0.015)] == 1.0 and under[at(0.03, 0.015)] == 0.0  # under-eye lines below only


def test_makeup_is_worn_mostly_by_women_and_changes_nothing_else():
    off = _people(400, load_config(None, {"identity.makeup_probability": 0.0}))
    on = _people(400, load_config(None, {"identity.makeup_probability": 1.0}))
    assert all(p.makeup is None for p in off)
    for a, b in zip(off, on):
        assert dataclasses.replace(b, makeup=None) == a  # the same face, with or without make-up
        assert from_json(Identity, to_json(b)) == b
    women = [p.makeup is not None for p in on if p.gender < 0.5]
    men = [p.makeup is not None for p in on if p.gender >= 0.5]
    assert np.mean(women) == 1.0 and np.mean(men) == pytest.approx(0.2, abs=0.08)
    worn = [p.makeup for p in on if p.makeup is not None]
    for m in worn:
        assert m.liner_width_m == 0.0 or 0.001 <= m.liner_width_m <= 0.0035
        assert 0.0 <= m.liner_lower <= 1.0 and 0.0 <= m.shadow_amount <= 0.8 and 0.0 <= m.mascara <= 1.0
        assert all(0.0 <= c <= 1.0 for c in m.liner_colour + m.shadow_colour)
    # each part is sometimes absent: not every made-up eye has liner, shadow or mascara
    for part in ("liner_width_m", "shadow_amount", "mascara"):
        share = np.mean([getattr(m, part) > 0 for m in worn])
        assert 0.3 < share < 0.95, part


def test_makeup_probability_is_validated():
    with pytest.raises(ConfigError) as exc:
        load_config(None, {"identity.makeup_probability": 1.5}).validate()
    assert exc.value.field == "identity.makeup_probability"


def test_makeup_paints_the_lid_along_the_lash_line():
    """Liner: a band above the upper lash line as wide as liner_width_m, nothing a few mm away;
    shadow: the lid above the lash line up to shadow_height eye widths, not below the eye."""
    from generator.face_model import FaceModel
    from generator.periocular import makeup_attributes
    from generator.sampling.identity import Makeup

    model = FaceModel.load()
    person = _people(1, load_config(None, {}))[0]
    iv, _, _, width, _ = _face(model, person)
    eyes = ("left", "right")
    upper = {e: iv[model.upper_margin[e]] for e in eyes}
    lower = {e: iv[model.lower_margin[e]] for e in eyes}
    m = Makeup(liner_width_m=0.002, liner_lower=0.0, liner_colour=(0.0, 0.0, 0.0), shadow_amount=0.6,
               shadow_height=0.4, shadow_colour=(0.3, 0.2, 0.1), mascara=0.5)
    w = makeup_attributes(iv, upper, lower, width, m)
    assert w.shape == (len(iv), 3) and w.min() >= 0.0 and w[:, 0].max() <= 1.0
    assert not makeup_attributes(iv, upper, lower, width, None).any()
    for e in eyes:
        up = upper[e]
        d = np.linalg.norm(iv[:, None, :] - up[None, :, :], axis=2)
        j = np.argmin(d, axis=1)
        dist, rise = d.min(axis=1), iv[:, 2] - up[j, 2]
        side = np.sign(iv[:, 0]) == np.sign(up[0, 0])  # this eye's half of the face
        mid_x = side & (np.abs(iv[:, 0]) > np.abs(up[:, 0]).min() + 0.2 * width) \
            & (np.abs(iv[:, 0]) < np.abs(up[:, 0]).max() - 0.2 * width)
        band = mid_x & (dist < 0.0015) & (rise > 0.0005)
        assert band.sum() >= 3 and w[band, 0].min() > 0.9  # the liner band
        assert w[mid_x & (dist > 0.004), 0].max() == 0.0  # nothing past its fading edge
        lid = mid_x & (rise > 0.0008) & (rise < 0.2 * width) & (dist < 0.2 * width)
        assert lid.sum() >= 3 and w[lid, 1].min() == pytest.approx(0.6)  # shadow over the lid
        below = mid_x & (iv[:, 2] < iv[model.lower_margin[e], 2].min() - 0.002)
        assert w[below, 1].max() == 0.0 and w[below, 0].max() == 0.0  # no lower liner asked for
