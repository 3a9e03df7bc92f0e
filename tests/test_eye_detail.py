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
        iv = np.asarray(model.identity_vertices(person.macros(), person.details))
        centres = {e: model.eye_centre(iv, e) for e in ("left", "right")}
        apex_y = min(float(model.pupil(iv, e)[1]) for e in ("left", "right"))
        li = model.landmark_index
        width = float(np.mean([np.linalg.norm(iv[li[e]["outer"]] - iv[li[e]["inner"]]) for e in ("left", "right")]))
        skin = iv[np.unique(model.part_faces("skin"))]
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


def test_default_config_has_glasses_probability():
    assert GeneratorConfig().identity.glasses_probability == pytest.approx(0.15)
