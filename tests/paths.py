"""Where things are in the checkout, for tests that read shipped files or write artifacts."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "mappings" / "presets"
SALESFORCE_CPQ_PRESET = PRESETS / "salesforce_cpq.yaml"
README = REPO / "README.md"
ARTIFACTS = REPO / "test-artifacts"
