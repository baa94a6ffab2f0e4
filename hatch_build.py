"""Put the trained weights, and the notice of the data they derive from, inside the wheel.

An installed ``aescull`` must work from any folder, offline: a wheel built without the weights
would install a tool that cannot score, so a missing file fails the build.
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHIPPED = {
    Path("weights") / "aescull-spp.pt": "aescull/_weights/aescull-spp.pt",
    Path("weights") / "README_LIVE_ChallengeDB.txt": "aescull/_weights/README_LIVE_ChallengeDB.txt",
}


class WeightsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        for source, target in SHIPPED.items():
            path = Path(self.root) / source
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: the wheel would ship without its model")
            build_data["force_include"][str(path)] = target
