"""BlinkFormer registry and models: what fit / predict / export rely on."""
import numpy as np
import pytest
import torch

from trainer.models import BlinkFormer, create_model, list_models

B, T, S = 2, 13, 48


@pytest.fixture(scope="module")
def frames_u8():
    return torch.randint(0, 256, (B, T, 3, S, S), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_registry_lists_paper_and_cnn_variants():
    names = list_models()
    for n in ("blinkformer_tiny", "blinkformer_small", "blinkformer_base", "blinkformer_cnn_tiny"):
        assert n in names
    assert list_models("blinkformer_cnn_*") == [n for n in names if n.startswith("blinkformer_cnn_")]
    with pytest.raises(KeyError, match="blinkformer_tiny"):  # the message lists what exists
        create_model("blinkformer_nope")
    with pytest.raises(TypeError, match="embed_dimm"):
        create_model("blinkformer_tiny", embed_dimm=64)


@pytest.mark.parametrize("name", list_models())
def test_every_model_builds_and_outputs_contract_shapes(name, frames_u8):
    torch.manual_seed(0)
    m = create_model(name).eval()
    assert m.default_cfg["crop_size"] == S and m.default_cfg["window"] == T and m.default_cfg["name"] == name
    with torch.no_grad():
        out = m(frames_u8)
        out_f = m(frames_u8.float() / 255)  # float input is in [0, 1]
    assert set(out) == {"blink_logit", "closure_logit"}
    assert out["blink_logit"].shape == (B,) and out["closure_logit"].shape == (B, T)
    assert torch.isfinite(out["blink_logit"]).all() and torch.isfinite(out["closure_logit"]).all()
    torch.testing.assert_close(out["blink_logit"], out_f["blink_logit"])
    torch.testing.assert_close(out["closure_logit"], out_f["closure_logit"])


def test_paper_sizes_have_plausible_parameter_counts():
    base = create_model("blinkformer_base")
    cfg = base.default_cfg
    assert (cfg["embed_dim"], cfg["depth"], cfg["num_heads"], cfg["mlp_dim"]) == (1024, 6, 16, 2048)
    # token embedding 6912x1024 (7.1M) + 6 blocks of 4d^2 + 2*d*mlp (8.4M each) ~ 57.5M
    assert 55e6 < n_params(base) < 60e6
    assert base.frame_embed.in_features == 3 * S * S  # one token per flattened frame, as in the paper
    small = create_model("blinkformer_small")
    assert small.default_cfg["embed_dim"] == 512 and 14e6 < n_params(small) < 18e6
    assert n_params(create_model("blinkformer_tiny")) < 2e6  # CI size


def test_heads_see_time_and_each_frame(frames_u8):
    """The closure logit of frame t depends on frame t's pixels; changing one frame changes the clip logit."""
    torch.manual_seed(0)
    m = create_model("blinkformer_tiny").eval()
    x2 = frames_u8.clone()
    x2[0, 6] = 255 - x2[0, 6]
    with torch.no_grad():
        a, b = m(frames_u8), m(x2)
    diff = (a["closure_logit"] - b["closure_logit"]).abs()
    assert diff[0, 6] > 1e-4 and torch.equal(diff[1], torch.zeros(T))  # other sample untouched
    assert (a["blink_logit"][0] - b["blink_logit"][0]).abs() > 1e-5


def test_overrides_window_crop_and_other_lengths():
    m = create_model("blinkformer_tiny", window=5, crop_size=32).eval()
    assert m.default_cfg["window"] == 5 and m.pos_embed.shape[1] == 6
    with torch.no_grad():
        assert m(torch.zeros(3, 5, 3, 32, 32, dtype=torch.uint8))["closure_logit"].shape == (3, 5)
        # another length resamples the learned positions instead of failing
        assert m(torch.zeros(1, 9, 3, 32, 32, dtype=torch.uint8))["closure_logit"].shape == (1, 9)
    with pytest.raises(ValueError, match=r"\[B,T,3,32,32\]"):
        m(torch.zeros(1, 5, 3, 48, 48))


def test_backward_reaches_every_parameter(frames_u8):
    m = create_model("blinkformer_cnn_tiny").train()
    out = m(frames_u8)
    (out["blink_logit"].sum() + out["closure_logit"].sum()).backward()
    missing = [n for n, p in m.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing


def test_pretrained_path_loads_local_weights_only(tmp_path, frames_u8):
    torch.manual_seed(1)
    a = create_model("blinkformer_tiny").eval()
    torch.save({"model": a.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")  # a checkpoint dict
    b = create_model("blinkformer_tiny", pretrained_path=tmp_path / "ckpt.pt").eval()
    with torch.no_grad():
        torch.testing.assert_close(a(frames_u8)["blink_logit"], b(frames_u8)["blink_logit"])
    with pytest.raises(RuntimeError, match="ckpt.pt"):
        create_model("blinkformer_tiny", embed_dim=64, pretrained_path=tmp_path / "ckpt.pt")


def test_compiles_without_graph_breaks(frames_u8):
    m = create_model("blinkformer_tiny").eval()
    compiled = torch.compile(m, backend="aot_eager", fullgraph=True)  # fullgraph: fails on any graph break
    with torch.no_grad():
        torch.testing.assert_close(compiled(frames_u8)["closure_logit"], m(frames_u8)["closure_logit"])


@pytest.mark.parametrize("name", ["blinkformer_tiny", "blinkformer_cnn_tiny"])
def test_onnx_export_opset17_matches_torch(name, tmp_path, frames_u8):
    ort = pytest.importorskip("onnxruntime")
    m = create_model(name).eval()
    path = str(tmp_path / "m.onnx")
    torch.onnx.export(m, (frames_u8,), path, opset_version=17, input_names=["frames"],
                      output_names=["blink_logit", "closure_logit"], dynamic_axes={"frames": {0: "batch"}},
                      dynamo=False)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = torch.cat([frames_u8, frames_u8.flip(0), frames_u8])  # another batch size than traced
    blink, closure = sess.run(None, {"frames": x.numpy()})
    with torch.no_grad():
        ref = m(x)
    np.testing.assert_allclose(blink, ref["blink_logit"].numpy(), atol=1e-4)
    np.testing.assert_allclose(closure, ref["closure_logit"].numpy(), atol=1e-4)


def test_blinkformer_rejects_bad_sizes():
    with pytest.raises(ValueError, match="divisible"):
        BlinkFormer(embed_dim=100, num_heads=8)
