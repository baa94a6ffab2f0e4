"""Export a checkpoint to the ONNX file the default inference engine runs (ONNX Runtime).

    python -m training.export_onnx [--checkpoint weights/aescull-spp.pt] [--output weights/aescull-spp.onnx]

Run it after every retrain, then pin the sha256 it prints in :mod:`aescull.model.bundled`
(``ONNX_SHA256``); ``tests/model/test_onnx.py`` checks that the shipped file scores as the shipped
checkpoint does. What it does and why:

- The whole network is exported, photo in, score out, with a dynamic height and width. Adaptive
  pooling with a dynamic input size does not export, so the pyramid pools are written out as
  the slices adaptive pooling uses (cell ``i`` of ``b`` spans ``floor(i*n/b)`` to
  ``ceil((i+1)*n/b)``): the same numbers, as plain ONNX slices and reductions.
- Batch norms are kept as nodes (ONNX Runtime folds them into the convolutions when it loads the
  file, in float32), so every stored weight is a weight of the checkpoint, which holds float16
  values: they are stored as float16 and cast to float32 at load. The file is half the size of
  a float32 export and the arithmetic is the float32 arithmetic of the torch engine.
- The checkpoint's config, meta and sha256 go into the file's metadata, so the engine needs no
  torch to know the working size, the model's name and version, or where the file came from.
  The exporter's notes on each node (stack traces with this file's path) are dropped, so the
  same checkpoint, torch and onnxscript give the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxscript.optimizer
import torch
from onnx import helper, numpy_helper
from onnxscript import ir
from onnxscript.ir.passes.common import RemoveUnusedNodesPass
from torch import nn

from aescull.fsutil import file_sha256
from aescull.model.bundled import ONNX_FILE, WEIGHTS_FILE
from aescull.model.checkpoint import load_model
from aescull.model.network import SPPNet

OPSET = 18
REPO = Path(__file__).resolve().parent.parent


def pyramid_pool(features: torch.Tensor, bins: tuple[int, ...], pooling: str) -> torch.Tensor:
    """:func:`aescull.model.network.spatial_pyramid_pool` as explicit slices, which export with a dynamic size."""
    height, width = features.shape[2], features.shape[3]
    pooled = []
    for size in bins:
        # ceilings as floors of non-negative numbers: the exporter turns // into a division that truncates
        cells = [
            features[:, :, (row * height) // size : ((row + 1) * height + size - 1) // size,
                     (col * width) // size : ((col + 1) * width + size - 1) // size]
            for row in range(size)
            for col in range(size)
        ]
        if pooling in ("avg", "avgmax"):
            pooled.append(torch.stack([cell.mean(dim=(2, 3)) for cell in cells], dim=2).flatten(1))
        if pooling in ("max", "avgmax"):
            pooled.append(torch.stack([cell.amax(dim=(2, 3)) for cell in cells], dim=2).flatten(1))
    return torch.cat(pooled, dim=1)


class Exported(nn.Module):
    """Photos in [0, 1] (N×3×H×W) to scores, as :meth:`SPPNet.forward` computes them."""

    def __init__(self, model: SPPNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        model = self.model
        start = model.config.tap_copy_from
        activations, taps = model.frozen_part(images, start)
        taps = list(taps)
        x = model.run_blocks(activations, start, len(model.trunk._blocks), taps)
        feature_map = model.reduce(model.trunk.last_conv(x))
        pooled = pyramid_pool(feature_map, model.config.pyramid_bins, model.config.pooling)
        return model.score_from_features(torch.cat([pooled, *taps], dim=1))


def half_initializers(graph: onnx.GraphProto) -> int:
    """Store every float32 initializer that float16 holds exactly as float16, cast back at load; returns how many."""
    converted = 0
    casts = []
    for initializer in graph.initializer:
        if initializer.data_type != onnx.TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(initializer)
        if values.size < 16 or not np.array_equal(values.astype(np.float16).astype(np.float32), values):
            continue
        name = initializer.name
        initializer.CopyFrom(numpy_helper.from_array(values.astype(np.float16), name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=onnx.TensorProto.FLOAT, name="cast_" + name))
        converted += 1
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return converted


def export(checkpoint: Path, output: Path, half_weights: bool = True) -> str:
    """Write ``output`` from ``checkpoint``; returns the ONNX file's sha256. ``half_weights=False``
    stores every weight as float32 (for tools that read weights only as float32, such as the INT8
    quantiser of ``bench.int8``)."""
    loaded = load_model(checkpoint)
    exported = Exported(loaded.model).eval()
    example = torch.rand(1, 3, 341, 512)
    height, width = torch.export.Dim("height", min=65, max=16384), torch.export.Dim("width", min=65, max=16384)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(folder) / "raw.onnx"
        torch.onnx.export(exported, (example,), raw, dynamo=True, opset_version=OPSET, input_names=["images"], output_names=["scores"],
                          dynamic_shapes={"images": {0: torch.export.Dim("batch", max=256), 2: height, 3: width}}, external_data=False,
                          optimize=False)
        folded = ir.load(raw)
    # Only constant folding: the exporter's full optimisation also folds the batch norms into the
    # convolutions, whose weights float16 then no longer holds exactly. Folding matters: the
    # exporter gives each convolution a zero bias cast from its input's type, which keeps ONNX
    # Runtime from fusing the convolution with its batch norm and clip (54 against 170 ms a photo).
    onnxscript.optimizer.fold_constants(folded)
    RemoveUnusedNodesPass()(folded)
    model = ir.to_proto(folded)
    for node in model.graph.node:  # the exporter's debug notes: this file's path and line numbers, which would change the sha256
        del node.metadata_props[:]
        node.doc_string = ""
    converted = half_initializers(model.graph) if half_weights else 0
    meta = {"config": json.dumps(loaded.config.to_dict()), "meta": json.dumps(loaded.meta), "checkpoint_sha256": loaded.sha256,
            "checkpoint": checkpoint.name}
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, output)
    print(f"{converted} initializers stored as float16", file=sys.stderr)
    return file_sha256(output)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "weights" / WEIGHTS_FILE)
    parser.add_argument("--output", type=Path, default=REPO / "weights" / ONNX_FILE)
    args = parser.parse_args(argv)
    digest = export(args.checkpoint, args.output)
    print(f"{args.output} ({args.output.stat().st_size / 1e6:.1f} MB) sha256 {digest}")


if __name__ == "__main__":
    main()
