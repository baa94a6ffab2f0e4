"""Would INT8 keep the scores? Static quantisation of the shipped network against its float32 export.

    python -m bench.int8 --data ../shared/data/clive-dev [--calibration 64]

Needs the ``export`` and ``onnx`` extras. Exports the shipped checkpoint to float32 ONNX (the
shipped export stores float16 weights, which the quantiser does not read), quantises it with ONNX
Runtime's ``quantize_static`` (QDQ, per-channel INT8 weights, UInt8 activations, MinMax
calibration on ``--calibration`` photos of ``--data``), once with every node and once with the
stem convolution and the head left in float32, and scores the other photos with each on one
thread: file size, CPU ms per photo, median and largest difference from float32, SRCC with MOS.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from aescull.model.checkpoint import default_weights_path
from aescull.pipeline.decode import decode
from training.export_onnx import export
from training.metrics import spearman


class Photos(CalibrationDataReader):
    def __init__(self, paths: list[Path]) -> None:
        self.paths = iter(paths)

    def get_next(self) -> dict | None:
        path = next(self.paths, None)
        return None if path is None else {"images": decode(path, 512).pixels[None]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="photos with labels.csv (filename, mos), such as clive-dev")
    parser.add_argument("--calibration", type=int, default=64)
    args = parser.parse_args(argv)
    with open(args.data / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    order = np.random.default_rng(0).permutation(len(rows))
    calibration = [args.data / "images" / rows[i]["filename"] for i in order[: args.calibration]]
    test = [rows[i] for i in order[args.calibration :]]
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        models = {"float32": folder / "float32.onnx"}
        export(default_weights_path(), models["float32"], half_weights=False)
        prepared = folder / "prepared.onnx"
        quant_pre_process(str(models["float32"]), str(prepared), skip_symbolic_shape=True)
        nodes = onnx.load(str(prepared)).graph.node
        stem = [node.name for node in nodes if node.op_type == "Conv"][:1]
        head = [node.name for node in nodes if node.op_type in ("Gemm", "MatMul", "LayerNormalization")]
        for label, exclude in (("INT8, every node", []), ("INT8, stem and head float32", stem + head)):
            models[label] = folder / f"int8-{len(models)}.onnx"
            quantize_static(str(prepared), str(models[label]), Photos(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8, calibrate_method=CalibrationMethod.MinMax,
                            nodes_to_exclude=exclude)
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = 1, 1, 3
        sessions = {label: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]) for label, path in models.items()}
        scores: dict[str, list[float]] = {label: [] for label in sessions}
        cpu = dict.fromkeys(sessions, 0.0)
        for row in test:
            pixels = decode(args.data / "images" / row["filename"], 512).pixels[None]
            for label, session in sessions.items():
                started = time.process_time()
                scores[label].append(float(session.run(None, {"images": pixels})[0].ravel()[0]))
                cpu[label] += time.process_time() - started
        mos = np.array([float(row["mos"]) for row in test])
        reference = np.array(scores["float32"])
        print(f"{len(test)} photos not used for calibration, one thread")
        for label, path in models.items():
            values = np.array(scores[label])
            print(f"{label:<30} {path.stat().st_size / 1e6:5.1f} MB  {1000 * cpu[label] / len(test):5.1f} ms/photo  "
                  f"|diff| median {np.median(np.abs(values - reference)):.4f} max {np.max(np.abs(values - reference)):.4f}  "
                  f"SRCC {spearman(values, mos):.4f}")


if __name__ == "__main__":
    main()
