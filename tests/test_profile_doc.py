"""The hardware-profile format is documented in the repository (issue 12 item 12): every field, its unit,
examples that validate, and links from the README and `llmfit hardware --help`."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from click.testing import CliRunner

from llmfit_core.cli.main import cli
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "hardware-profile.md"


def test_every_profile_field_is_documented_with_the_gib_rule():
    text = DOC.read_text()
    for cls in (HardwareProfile, CPUInfo, MemoryInfo, GPUInfo):
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in text, f"{cls.__name__}.{f.name} is not in {DOC.name}"
    assert "`_gb` are GiB" in text and "GB/s" in text
    assert "device table" in text and "estimated" in text  # what is filled in, and how it is flagged


def test_the_doc_examples_are_valid_profiles(tmp_path):
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        p = tmp_path / f"example{i}.json"
        p.write_text(json.dumps(json.loads(block)))
        res = CliRunner().invoke(cli, ["hardware", "validate", str(p)])
        assert res.exit_code == 0, (block, res.output)
        assert "estimated" not in res.output or i > 0, res.output  # the first one is complete


def test_readme_and_hardware_help_point_to_the_doc():
    assert "docs/hardware-profile.md" in (ROOT / "README.md").read_text()
    res = CliRunner().invoke(cli, ["hardware", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "docs/hardware-profile.md" in res.output and "GiB" in res.output
