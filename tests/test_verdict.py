"""One verdict enum and one "tight" rule, shared by placement (fit), recommend's vectorised pass and the report."""

from __future__ import annotations

import json

import pytest
from test_recommend import _llama8b

from llmfit_core.catalog.store import Catalog
from llmfit_core.cli.common import VERDICT_STYLE
from llmfit_core.constraints import Constraints
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo
from llmfit_core.recommend import recommend
from llmfit_core.units import GIB
from llmfit_core.verdict import MARGIN_MIN, VERDICTS, Verdict, is_tight, margin_for

pytestmark = pytest.mark.usefixtures("isolated_catalog")


def _gpu(vram_gb: float) -> HardwareProfile:
    return HardwareProfile(name="gpu", cpu=CPUInfo(model="desktop", cores=16, threads=32, isa=["avx2"], mem_bandwidth_gbs=80.0),
                           memory=MemoryInfo(total_gb=64, available_gb=60),
                           gpus=[GPUInfo(vendor="nvidia", name="GeForce RTX 4090", vram_gb=vram_gb, bandwidth_gbs=1008,
                                         fp16_tflops=165, compute_capability="8.9")])


def test_verdicts_are_the_contract_strings():
    assert VERDICTS == ("runs", "offload", "tight", "no-fit")
    assert json.dumps([Verdict.NO_FIT]) == '["no-fit"]' and f"{Verdict.TIGHT}" == "tight"
    assert Verdict("offload") is Verdict.OFFLOAD and Verdict.RUNS == "runs"
    assert [v.fits for v in Verdict] == [True, True, True, False]


def test_the_tight_rule_is_the_safety_margin():
    assert margin_for(GIB) == MARGIN_MIN and margin_for(100 * GIB) == 5 * GIB
    assert is_tight(4 * GIB, 100 * GIB) and not is_tight(5 * GIB, 100 * GIB)


def test_recommend_vectorised_verdict_uses_the_same_tight_rule_as_fit():
    # a 24 GiB-class card filled to ~92%: 8% spare is above fit's 5% margin, so "runs" (the vectorised pass once
    # called anything over 90% "tight" and ranked it 10 points lower than fit would)
    cat = Catalog([_llama8b()])
    c = Constraints(quants=["Q8_0"], context=4096)
    (probe,) = recommend(c, hardware=_gpu(80), top=1, catalog=cat, refine=False).items
    vram_gb = probe.total_bytes / 0.92 / GIB
    (r,) = recommend(c, hardware=_gpu(vram_gb), top=1, catalog=cat, refine=False).items
    assert r.quant == "Q8_0" and r.total_bytes == probe.total_bytes
    vram = _gpu(vram_gb).gpus[0].vram_bytes
    assert not is_tight(vram - r.total_bytes, vram) and r.verdict == "runs"
    (r,) = recommend(c, hardware=_gpu(probe.total_bytes / 0.97 / GIB), top=1, catalog=cat, refine=False).items
    assert r.verdict == "tight"


def test_every_command_shows_a_verdict_one_way():
    assert set(VERDICT_STYLE) == set(Verdict)
    assert VERDICT_STYLE["tight"] == VERDICT_STYLE[Verdict.TIGHT]  # looked up by the contract string too
