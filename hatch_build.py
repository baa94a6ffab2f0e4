"""Put the trained weights inside the wheel, so an installed ``aescull`` works from any folder.

A hook rather than a static ``force-include`` because that setting fails the build while the
weights file does not exist yet (a fresh clone before training); the CLI then says clearly that
the bundled weights are missing.
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

WEIGHTS = Path("weights") / "aescull-spp.pt"


class WeightsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        source = Path(self.root) / WEIGHTS
        if source.is_file():
            build_data["force_include"][str(source)] = "aescull/_weights/aescull-spp.pt"
