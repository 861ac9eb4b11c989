"""The `fit --json` contract's key set, pinned on reports that exercise each optional part: a dense model on a
CPU box, MoE expert offload, a two-GPU split, and companions (projector + draft). Written before the report's
untyped `extra` bag became named fields, so the refactor cannot add, drop or rename a key silently."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_companions import write_mmproj

from llmfit_core.api import fit, fit_spec
from llmfit_core.cli.main import cli
from llmfit_core.hardware.profile import HardwareProfile
from llmfit_core.report import MemoryBreakdown
from llmfit_core.synth import write_synthetic_gguf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from training.model_configs import build_spec  # noqa: E402

TOP = {"backend", "context", "decode_tok_s", "decode_tok_s_range", "depth", "fits", "gpu_layers", "hardware",
       "hardware.name", "max_context", "memory", "model", "model.active_params", "model.arch", "model.file_bytes",
       "model.params", "model.quant", "model.ref", "n_cpu_moe", "prefill_tok_s", "prefill_tok_s_range", "reasons", "score", "total_layers",
       "verdict"}
MEMORY = {"memory.compute_bytes", "memory.cpu_bytes", "memory.detail", "memory.gpu_bytes", "memory.kv_cache_bytes",
          "memory.overhead_bytes", "memory.total_bytes", "memory.weights_bytes"}
DETAIL = {"memory.detail.allocated_bytes", "memory.detail.output_bytes", "memory.detail.recurrent_state_bytes",
          "memory.detail.repack_bytes", "memory.detail.repack_mapped_bytes"}
CPU = {"model": "AMD Ryzen 7 7700", "cores": 8, "threads": 16, "isa": ["avx2", "avx512f"], "mem_bandwidth_gbs": 83}


def key_paths(d: dict, prefix: str = "") -> set[str]:
    """Every key of a nested dict as a dotted path."""
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= key_paths(v, f"{prefix}{k}.")
    return out


def _gpu_box(vram_gb: int, n_gpus: int = 1) -> HardwareProfile:
    gpu = {"vendor": "nvidia", "name": "GeForce RTX 3060", "vram_gb": vram_gb, "bandwidth_gbs": 360,
           "fp16_tflops": 51.2, "compute_capability": "8.6"}
    return HardwareProfile.from_dict({"name": f"desk-{n_gpus}x{vram_gb}gb", "cpu": CPU,
                                      "memory": {"total_gb": 64, "available_gb": 58}, "gpus": [gpu] * n_gpus,
                                      "unified_memory": False})


def test_dense_model_on_a_cpu_box_has_the_base_keys():
    rep = fit_spec(build_spec("llama-3.1-8b", "Q4_K_M"), hardware="cpu-only-16gb", context=4096)
    assert key_paths(rep.to_dict()) == TOP | MEMORY | DETAIL


def test_moe_expert_offload_adds_the_expert_copy():
    rep = fit_spec(build_spec("qwen3-30b-a3b", "Q4_K_M"), hardware=_gpu_box(12), context=4096)
    assert rep.n_cpu_moe > 0
    assert key_paths(rep.to_dict()) == (TOP | MEMORY | DETAIL
                                        | {"memory.detail.expert_copy_bytes", "memory.detail.extra_gpu_context_bytes"})


def test_two_gpus_add_the_extra_gpu_context():
    rep = fit_spec(build_spec("llama-3.1-70b", "Q4_K_M"), hardware=_gpu_box(24, 2), context=4096)
    assert key_paths(rep.to_dict()) == TOP | MEMORY | DETAIL | {"memory.detail.extra_gpu_context_bytes"}


@pytest.fixture(scope="module")
def companion_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("contract")
    return (write_synthetic_gguf(d / "tiny-F16.gguf", "llama-tiny", "F16"), write_mmproj(d / "mmproj-tiny-F16.gguf"),
            write_synthetic_gguf(tmp_path_factory.mktemp("draft") / "draft-F16.gguf", "llama-tiny", "F16"))


def test_companions_add_their_own_detail(companion_files):
    model, mmproj, draft = companion_files
    rep = fit(str(model), hardware="cpu-only-16gb", backend="llama.cpp-cpu", mmproj=str(mmproj), draft=str(draft))
    assert key_paths(rep.to_dict()) == TOP | MEMORY | DETAIL | {"memory.detail.mmproj_bytes",
                                                                 "memory.detail.draft_bytes"}
    assert list(rep.to_dict()["memory"]["detail"]) == [  # the order the JSON has always had
        "output_bytes", "repack_bytes", "repack_mapped_bytes", "recurrent_state_bytes", "mmproj_bytes", "draft_bytes",
        "allocated_bytes"]


def test_cli_json_and_batch_lines_carry_the_same_keys(companion_files, tmp_path):
    model = str(companion_files[0])
    res = CliRunner().invoke(cli, ["fit", model, "--hardware", "cpu-only-16gb", "--json"], catch_exceptions=False)
    assert res.exit_code == 0
    assert key_paths(json.loads(res.output)) == TOP | MEMORY | DETAIL
    batch = tmp_path / "q.jsonl"
    batch.write_text(json.dumps({"ref": model, "context": "2k", "cache-type": "q8_0"}) + "\n")
    res = CliRunner().invoke(cli, ["fit", "--batch", str(batch), "--hardware", "cpu-only-16gb"],
                             catch_exceptions=False)
    assert key_paths(json.loads(res.output)) == TOP | MEMORY | DETAIL


def test_a_breakdown_without_parts_keeps_an_empty_detail():
    """recommend's vectorised rows have no parts: their JSON has always said "detail": {}."""
    assert MemoryBreakdown(weights_bytes=1).to_dict()["detail"] == {}
