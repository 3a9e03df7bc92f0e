"""trainer.export: ONNX (opset 17, dynamic batch) that matches PyTorch under onnxruntime."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from trainer.checkpoint import CheckpointError
from trainer.export import check_parity, export_onnx, main
from trainer.checkpoint import checkpoint_state
from trainer.models import create_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("blinkformer_tiny", crop_size=32, window=7)  # small: export is the point
    path = tmp_path_factory.mktemp("export") / "model.pt"
    torch.save(checkpoint_state(model, "blinkformer_tiny", dict(crop_size=32, window=7)), path)
    return path


def test_onnx_matches_pytorch_for_any_batch_size(checkpoint, tmp_path):
    out = export_onnx(str(checkpoint), str(tmp_path / "m.onnx"))
    graph = onnx.load(str(out))
    assert graph.opset_import[0].version == 17
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [7, 3, 32, 32]
    parity = check_parity(str(checkpoint), str(out), batch_sizes=(1, 5))
    assert parity["max_abs_diff"] < 1e-4, parity


def test_cli_reports_the_difference(checkpoint, tmp_path, capsys):
    assert main(["--checkpoint", str(checkpoint), "--out", str(tmp_path / "f.onnx"), "--input-dtype", "float32"]) == 0
    assert "max abs diff" in capsys.readouterr().out
    info = json.loads((tmp_path / "f.onnx.json").read_text())
    assert info["max_abs_diff"] < 1e-4 and info["opset"] == 17


def test_corrupt_checkpoint_is_named_and_nothing_is_written(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        export_onnx(str(bad), str(tmp_path / "x.onnx"))
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        export_onnx(str(tmp_path / "missing.pt"), str(tmp_path / "x.onnx"))
