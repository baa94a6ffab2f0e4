"""Put the trained weights (checkpoint and ONNX export), the face model, and their notices inside the wheel.

An installed ``aescull`` must work from any folder, offline: a wheel built without the weights
would install a tool that cannot score, so a missing file fails the build.
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHIPPED = {
    Path("weights") / "aescull-spp.pt": "aescull/_weights/aescull-spp.pt",
    # The same network exported for ONNX Runtime (python -m training.export_onnx), the default runtime.
    Path("weights") / "aescull-spp.onnx": "aescull/_weights/aescull-spp.onnx",
    Path("weights") / "README_LIVE_ChallengeDB.txt": "aescull/_weights/README_LIVE_ChallengeDB.txt",
    # The MediaPipe face model of the optional extra aescull[faces] (Apache-2.0), with its notice and licence.
    Path("weights") / "face_landmarker.task": "aescull/_weights/face_landmarker.task",
    Path("weights") / "NOTICE.face_landmarker.txt": "aescull/_weights/NOTICE.face_landmarker.txt",
    Path("weights") / "LICENSE.Apache-2.0.txt": "aescull/_weights/LICENSE.Apache-2.0.txt",
}


class WeightsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        for source, target in SHIPPED.items():
            path = Path(self.root) / source
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: the wheel would ship without its model")
            build_data["force_include"][str(path)] = target
