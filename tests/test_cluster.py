"""Issue 16: one model across GPUs and machines (cluster file, engines, memory per device, physics, target, CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmfit_core.cluster.constants import ClusterConstants, Sample, fit_constants
from llmfit_core.cluster.engines import EngineChoiceError, make_split, pp_partition
from llmfit_core.cluster.links import LINKS, ClusterSpecError
from llmfit_core.cluster.plan import plan_cluster, plan_cluster_target
from llmfit_core.cluster.spec import load_cluster
from llmfit_core.cluster.speed import decode_time
from llmfit_core.errors import LlmfitError
from llmfit_core.memory import estimate_memory, kv_cache_layers
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.resolve import resolve_model

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cluster.json"
QWEN235, LLAMA70, GPTOSS = "Qwen/Qwen3-235B-A22B", "meta-llama/Llama-3.3-70B-Instruct", "openai/gpt-oss-120b"
KEYS = {"engine", "split", "devices", "fits", "verdict", "decode_tok_s", "decode_tok_s_range", "prefill_tok_s",
        "prefill_tok_s_range",
        "kv_capacity_tokens", "max_concurrency", "commands", "reasons"}


@pytest.fixture(autouse=True)
def _offline(isolated_catalog, monkeypatch):
    monkeypatch.setenv("LLMFIT_OFFLINE", "1")


def macs(n: int, link: str = "Thunderbolt5-RDMA") -> dict:
    return {"nodes": [{"hardware": "Apple M3 Ultra (80-core GPU)", "count": n}], "link": link}


def h100s(nodes: int, gpus: int = 8, link: str = "InfiniBand") -> dict:
    prof = {"name": f"{gpus}x H100", "cpu": {"model": "EPYC 9654", "cores": 96}, "memory": {"total_gb": 1024},
            "gpus": [{"vendor": "nvidia", "name": "H100 80GB"}] * gpus}
    return {"nodes": [{"hardware": prof, "count": nodes}], "link": link}


# ---------------------------------------------------------------- cluster file

def test_example_cluster_file_loads_with_its_gpus_and_hosts():
    cl = load_cluster(EXAMPLE)
    assert [m.host for m in cl.machines] == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    assert [len(m.gpus) for m in cl.machines] == [2, 1, 1]  # dual-3090 profile: two GPUs inside one node
    assert cl.link is LINKS["10GbE"]


def test_every_link_has_figures_and_a_source():
    for link in LINKS.values():
        assert link.gbps > 0 and link.latency_us > 0 and link.source
    assert LINKS["Thunderbolt5-RDMA"].rdma and not LINKS["10GbE"].rdma


@pytest.mark.parametrize("data, words", [
    ({"nodes": [{"hardware": "RTX 9090", "count": 2}], "link": "10GbE"}, ["nodes[0].hardware", "RTX 9090", "closest: RTX"]),
    ({"nodes": [{"hardware": "RTX 4090", "count": 2}], "link": "10GBe-ish"}, ["unknown link", "nearest: 10GbE"]),
    ({"nodes": [{"hardware": "RTX 4090", "count": 2}], "link": "PCIe"}, ["inside one machine", "InfiniBand"]),
    ({"nodes": [{"hardware": "RTX 4090", "count": 0}], "link": "10GbE"}, ["count must be a positive integer"]),
    ({"nodes": [{"hardware": "RTX 4090", "cout": 2}], "link": "10GbE"}, ["unknown key 'cout'", "did you mean 'count'"]),
    ({"nodes": [{"hardware": "RTX 4090", "count": 2}]}, ["\"link\" is required"]),
    ({"nodes": [], "link": "10GbE"}, ["non-empty list"]),
    ({"nodes": [{"hardware": "RTX 4090"}], "link": {"gbps": -1, "latency_us": 5}}, ["gbps must be a number"]),
])
def test_bad_cluster_descriptions_are_one_clear_line(data, words):
    with pytest.raises(ClusterSpecError) as exc:
        load_cluster(data)
    msg = str(exc.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_custom_link_and_relative_profile_path(tmp_path):
    (tmp_path / "box.json").write_text(json.dumps({"name": "box", "memory": {"total_gb": 64},
                                                    "gpus": [{"vendor": "nvidia", "name": "RTX 4090"}]}))
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"nodes": [{"hardware": "box.json", "count": 2}], "link": {"gbps": 40, "latency_us": 20}}))
    cl = load_cluster(str(f))
    assert len(cl.machines) == 2 and cl.link.gbps == 40 and cl.machines[0].hardware_name == "box"


# ---------------------------------------------------------------- engines, splits, bad choices

def test_engines_need_their_hardware():
    plan = plan_cluster(QWEN235, macs(2), quant="Q8_0")
    by = {p.engine: p for p in [plan.best] + plan.alternatives}
    assert by["vllm"].verdict == by["sglang"].verdict == "unavailable"
    assert "NVIDIA" in by["vllm"].reasons[0]
    with pytest.raises(EngineChoiceError, match="engines this cluster can run: llama.cpp-rpc, vllm, sglang"):
        plan_cluster(LLAMA70, h100s(1, 2), engine="exo")


def test_tp_must_divide_the_heads_and_says_the_nearest():
    with pytest.raises(EngineChoiceError, match=r"--tp 3 does not divide the 64 attention heads.*--tp 2 or --tp 4"):
        plan_cluster(LLAMA70, h100s(1, 8), engine="vllm", tp=3)


def test_exo_tensor_needs_kv_heads_divisible_by_the_node_count_and_rdma():
    spec = resolve_model(QWEN235, quant="MLX-8bit")  # 4 KV heads
    with pytest.raises(EngineChoiceError, match="nearest valid node count: 2 or 4"):
        make_split("exo", spec, load_cluster(macs(3)), exo_mode="tensor")
    with pytest.raises(EngineChoiceError, match="Thunderbolt 5 RDMA.*--exo-mode pipeline"):
        make_split("exo", spec, load_cluster(macs(2, "10GbE")), exo_mode="tensor")
    auto = make_split("exo", spec, load_cluster(macs(3)))
    assert auto.mode == "pipeline" and [s.layers for s in auto.stages] == [31, 31, 32] and "divisible" in auto.notes[0]


def test_tensor_parallel_over_tcp_across_nodes_is_allowed_but_said_slow():
    plan = plan_cluster(LLAMA70, h100s(2, 1, "10GbE"), engine="vllm", tp=2, pp=1, quant="FP8")
    assert plan.best.split.tp == 2
    assert any("over TCP" in r and "slow" in r for r in plan.best.reasons)


def test_vllm_pp_partition_follows_get_pp_indices():
    assert pp_partition(94, 4) == [23, 24, 24, 23]  # remainder one each to the stages before the last, backwards
    assert sum(pp_partition(61, 3)) == 61 and pp_partition(61, 3)[-1] == 20


# ---------------------------------------------------------------- memory per device

def test_plan_json_has_the_contract_keys_and_a_command_per_node():
    plan = plan_cluster(LLAMA70, EXAMPLE, context="8k")
    d = plan.to_dict()
    assert set(d) == KEYS | {"alternatives"}
    assert all(set(a) == KEYS for a in d["alternatives"])
    for dev in d["devices"]:
        assert set(dev) == {"node", "device", "memory", "fits"}
        assert {"weights_bytes", "kv_cache_bytes", "compute_bytes", "engine_reserve_bytes", "total_bytes"} <= set(dev["memory"])
    nodes = {c["node"] for c in d["commands"]}
    assert nodes == {"10.0.0.10", "10.0.0.11", "10.0.0.12"}


@pytest.mark.parametrize("engine, block", [("vllm", 64), ("sglang", 1)])
def test_mla_kv_is_one_latent_per_token_and_layer(engine, block):
    # DeepSeek-V3's config: 128 heads, kv_lora_rank 512 + 64 RoPE dims. vLLM/SGLang cache that latent (bf16) once
    # per token and layer on every TP rank, not K and V per head (~5 MB per token); vLLM in 64-token FlashMLA pages
    cfg = json.loads((Path(__file__).parent / "fixtures" / "models" / "configs" / "deepseek-v3.json").read_text())
    spec = spec_from_config(cfg, "deepseek-ai/DeepSeek-V3")
    p = plan_cluster(spec, h100s(2, 8), engine=engine, context=32768).best
    latent = (512 + 64) * 2
    for d in p.memory.devices:
        assert d.memory.kv_cache_bytes == d.layers * latent * 32768
    cap = p.memory.kv_capacity_tokens
    assert cap == min(d.memory.kv_pool_bytes // (d.layers * latent * block) * block for d in p.memory.devices)
    assert cap > 500_000  # priced per head (128 x (192 + 128) x 2 bytes per layer) it would be ~50x fewer
    assert p.memory.max_concurrency == pytest.approx(cap / 32768)
    assert any("latent of 512 + 64" in r for r in p.reasons)


def test_fp8_checkpoints_are_priced_as_published_and_ties_go_to_the_larger_kv_pool():
    # deepseek-ai/DeepSeek-V3.1 is published in FP8 (config.json quantization_config): 16 H100 hold it for vLLM
    plan = plan_cluster("deepseek-ai/DeepSeek-V3.1", h100s(2, 8), context=32768)
    served = [plan.best] + [p for p in plan.alternatives if p.engine in ("vllm", "sglang")]
    assert {p.engine for p in served} == {"vllm", "sglang"} and all(p.fits and p.quant == "FP8" for p in served)
    loser = served[1]
    assert loser.reasons[0].startswith("lost: the same decode speed") or loser.decode_tok_s < plan.best.decode_tok_s


def test_catalog_mla_models_price_the_latent():
    spec = resolve_model("deepseek-ai/DeepSeek-V3.1", quant="Q4_K_M")  # the catalog states no MLA fields
    layers, cells, _ = kv_cache_layers(spec, 4096)
    assert spec.kv_lora_rank == 512 and sum(layers) / cells == spec.n_layers * (512 + 64) * 2


def test_vllm_reserve_is_paid_on_every_gpu_and_gives_kv_capacity():
    one = plan_cluster(LLAMA70, h100s(1, 2), engine="vllm", quant="FP8", context=8192).best
    two = plan_cluster(LLAMA70, h100s(1, 4), engine="vllm", quant="FP8", context=8192).best
    for p in (one, two):
        reserves = {d.memory.engine_reserve_bytes for d in p.memory.devices}
        assert len(reserves) == 1 and reserves.pop() > 0  # the same fixed reserve on every rank
        assert p.memory.kv_capacity_tokens > 0 and p.memory.max_concurrency == pytest.approx(p.memory.kv_capacity_tokens / 8192)
    # four ranks pay the fixed part four times: fixed bytes total grows with the GPU count
    fixed = lambda p: sum(d.memory.engine_reserve_bytes + d.memory.compute_bytes for d in p.memory.devices)  # noqa: E731
    assert fixed(two) > 1.6 * fixed(one)  # the activation peak shrinks a little per rank (MLP / TP), the rest not
    reserve = lambda p: sum(d.memory.engine_reserve_bytes for d in p.memory.devices)  # noqa: E731
    assert reserve(two) == 2 * reserve(one)
    weights = lambda p: sum(d.memory.weights_bytes for d in p.memory.devices)  # noqa: E731
    assert weights(two) == pytest.approx(weights(one), rel=0.01)  # the weights are only split


def test_a_model_too_big_for_the_cluster_does_not_fit_anywhere():
    small = {"nodes": [{"hardware": "RTX 4090", "count": 2}], "link": "10GbE"}
    plan = plan_cluster(QWEN235, small, quant="Q4_K_M")
    assert not plan.best.fits and plan.best.verdict == "no-fit"
    assert "no engine fits" in plan.best.reasons[0]


def test_exo_checks_the_wired_limit_not_only_the_weights():
    plan = plan_cluster(QWEN235, {"nodes": [{"hardware": "Apple M4 Max (40-core GPU)", "count": 2}],
                                  "link": "Thunderbolt5-RDMA"}, engine="exo", quant="MLX-8bit")
    # 233 GiB of weights: below the 2 x 128 GiB of RAM exo's placement compares with, above 2 x 96 GiB wired
    assert not plan.best.fits
    assert any("checks the weights against the RAM only" in r for r in plan.best.reasons)


@pytest.mark.parametrize("model, quant", [(QWEN235, "MLX-8bit"), ("deepseek-ai/DeepSeek-V3.1", "MLX-4bit")])
def test_exo_tensor_keeps_the_embedding_head_and_an_mla_latent_whole_on_every_mac(model, quant):
    spec = resolve_model(model, quant=quant)
    mem = estimate_memory(spec, "mlx", 4096)
    whole = mem.input_bytes + mem.output_layer_bytes
    for d in plan_cluster(spec, macs(4), engine="exo", exo_mode="tensor", context=4096).best.memory.devices:
        assert d.memory.weights_bytes == int((mem.weights_bytes - whole) / 4 + whole)
        assert d.memory.kv_cache_bytes == int(mem.kv_cache_bytes if spec.kv_lora_rank else mem.kv_cache_bytes / 4)


# ---------------------------------------------------------------- physics

def _decode(model, cluster, engine, quant, **kw):
    return plan_cluster(model, cluster, engine=engine, quant=quant, **kw).best.decode_tok_s


def test_rpc_layer_split_is_never_faster_than_one_device_holding_it():
    one, two, four = (_decode(QWEN235, macs(n, "10GbE"), "llama.cpp-rpc", "Q8_0") for n in (1, 2, 4))
    assert one > two > four


def test_exo_tensor_over_rdma_speeds_decode_up_and_pipeline_slows_it():
    one = _decode(QWEN235, macs(1), "exo", "MLX-8bit")
    tensor2 = _decode(QWEN235, macs(2), "exo", "MLX-8bit")
    tensor4 = _decode(QWEN235, macs(4), "exo", "MLX-8bit")
    pipe2 = _decode(QWEN235, macs(2, "10GbE"), "exo", "MLX-8bit")
    assert tensor4 > tensor2 > one > pipe2


def test_tp_over_nvlink_beats_tp_over_tcp():
    fast = _decode(LLAMA70, h100s(1, 2, "NVLink"), "vllm", "FP8")
    slow = _decode(LLAMA70, h100s(2, 1, "1GbE"), "vllm", "FP8", tp=2, pp=1)
    assert fast > 1.5 * slow


def test_fit_constants_recovers_a_planted_hop_cost():
    hop = 2e-3
    samples = [Sample("llama.cpp-rpc", c + l + n * hop, c, l, n, "rpc_hop_s") for c, l, n in
               [(0.05, 1e-4, 1), (0.03, 2e-4, 3), (0.08, 1e-4, 2)]]
    assert fit_constants(samples).rpc_hop_s == pytest.approx(hop)
    assert fit_constants([], ClusterConstants(rpc_hop_s=7e-3)).rpc_hop_s == 7e-3  # no rows: the base stays


def test_fit_constants_recovers_a_planted_per_token_cost():
    # exo: time = compute / eff + a fixed cost per token; one multiplicative factor cannot fit a fast and a slow model
    eff, token = 0.85, 2e-3
    samples = [Sample("exo", c / eff + token, c, 0.0, 0, "exo_hop_s") for c in (0.008, 0.009, 0.038, 0.042)]
    k = fit_constants(samples)
    assert k.decode_eff["exo"] == pytest.approx(eff, abs=1e-3) and k.token_s["exo"] == pytest.approx(token, rel=1e-3)
    assert decode_time(Sample("exo", 0.0, 0.02, 0.0, 0, "exo_hop_s"), k) == pytest.approx(0.02 / eff + token, rel=1e-3)


# ---------------------------------------------------------------- target speed

def test_target_speed_finds_the_fewest_machines():
    # one Mac ~20-22 tok/s, two in exo tensor mode ~22, three only in pipeline mode (slower), four in tensor mode ~25
    t = plan_cluster_target(QWEN235, macs(4), 24, quant="MLX-8bit")
    assert t.plan is not None and len(t.subset.machines) == 4 and t.plan.engine == "exo"
    assert t.plan.split.mode == "tensor" and t.plan.decode_tok_s >= 24
    low = plan_cluster_target(QWEN235, macs(4), 5, quant="Q8_0")
    assert len(low.subset.machines) == 1


def test_target_speed_out_of_reach_says_why():
    t = plan_cluster_target(QWEN235, macs(2), 5000, quant="Q8_0")
    assert t.plan is None and t.best_seen is not None
    assert "< 5000" in t.lacks[0]


# ---------------------------------------------------------------- CLI

def _cli(*args):
    env = {**os.environ, "LLMFIT_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)


def test_cli_plan_cluster_json_and_text():
    proc = _cli("plan", LLAMA70, "--cluster", str(EXAMPLE), "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert set(d) == KEYS | {"alternatives"} and d["engine"] in ("llama.cpp-rpc", "vllm", "sglang")
    proc = _cli("plan", LLAMA70, "--cluster", str(EXAMPLE), "--engine", "vllm")
    assert proc.returncode == 0, proc.stderr
    assert "vllm serve" in proc.stdout and "--node-rank 2" in proc.stdout


@pytest.mark.parametrize("args, words", [
    (["--engine", "vllm", "--tp", "3"], "does not divide"),
    (["--engine", "exo"], "engines this cluster can run"),
    (["--engine", "vlm"], "nearest: vllm"),
    (["--tp", "2"], "add --engine vllm"),
])
def test_cli_bad_choices_exit_1_with_one_line(args, words):
    proc = _cli("plan", LLAMA70, "--cluster", str(EXAMPLE), *args)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("nodes, link, args, words", [
    (3, "Thunderbolt5-RDMA", ["--exo-mode", "tensor"], "nearest valid node count: 2 or 4"),  # 8 KV heads over 3 Macs
    (2, "10GbE", ["--exo-mode", "tensor"], "use --exo-mode pipeline"),
    (2, "Thunderbolt5-RDMA", ["--exo-mode", "tensr"], "nearest: tensor"),
])
def test_cli_exo_tensor_mode_that_cannot_apply_exits_1_with_the_nearest_choice(tmp_path, nodes, link, args, words):
    f = tmp_path / "macs.json"
    f.write_text(json.dumps(macs(nodes, link)))
    proc = _cli("plan", LLAMA70, "--cluster", str(f), "--engine", "exo", *args)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_bad_cluster_file(tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{"nodes": [{"hardware": "RTX 9090", "count": 2}], "link": "10GbE"}')
    proc = _cli("plan", LLAMA70, "--cluster", str(f))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "RTX 9090" in proc.stderr
    proc = _cli("plan", LLAMA70, "--engine", "vllm")
    assert proc.returncode == 1 and "--cluster" in proc.stderr


def test_each_engine_prices_the_weights_it_loads():
    plan = plan_cluster(LLAMA70, EXAMPLE)
    by = {p.engine: p for p in [plan.best] + plan.alternatives}
    assert by["llama.cpp-rpc"].quant == "Q4_K_M" and by["vllm"].quant == "BF16"
    assert any("priced as BF16" in r for r in by["vllm"].reasons)
    # 141 GB of BF16 weights on 4 x 24 GiB: vLLM does not fit where the Q4_K_M GGUF does
    assert by["vllm"].verdict == "no-fit" and plan.best.engine == "llama.cpp-rpc" and plan.best.fits
    pinned = plan_cluster(LLAMA70, EXAMPLE, quant="Q4_K_M", engine="vllm").best
    assert pinned.quant == "Q4_K_M"


def test_rpc_prefill_is_bound_by_the_main_host_moving_activations_on_a_slow_link():
    def prefill(n, link):
        remote = {"nodes": [{"hardware": {"name": "client", "memory": {"total_gb": 32}}},
                            {"hardware": "A100 80GB", "count": n}], "link": link}
        return plan_cluster("microsoft/Phi-4-mini-instruct", remote, engine="llama.cpp-rpc").best.speed.prefill_tok_s

    assert prefill(4, "1GbE") < prefill(2, "1GbE") < prefill(1, "1GbE")  # every device's activations cross 1 GbE
    assert prefill(1, "1GbE") < prefill(1, "100GbE")


def test_ranges_hold_the_prediction_and_are_wider_without_rows():
    rpc = plan_cluster(LLAMA70, EXAMPLE, engine="llama.cpp-rpc").best
    sgl = plan_cluster(LLAMA70, h100s(1, 4), engine="sglang", quant="FP8").best
    for p in (rpc, sgl):
        lo, hi = p.speed.decode_range
        assert lo < p.decode_tok_s < hi
    width = lambda p: p.speed.decode_range[1] / p.speed.decode_range[0]  # noqa: E731
    assert width(sgl) > width(rpc)
    assert any("no single-stream SGLang rows" in r for r in sgl.reasons)


def test_prefill_range_is_wide_and_said_where_no_prompt_rows_exist():
    plan = plan_cluster(QWEN235, macs(2))  # each engine its own weights: exo MLX, RPC a GGUF
    by_engine = {p.engine: p for p in [plan.best] + plan.alternatives if p.speed}
    exo, rpc = by_engine["exo"], by_engine["llama.cpp-rpc"]
    assert any("no prompt-speed rows for exo" in r for r in exo.reasons)
    assert not any("no prompt-speed rows" in r for r in rpc.reasons)  # RPC has public prompt rows
    lo, hi = exo.to_dict()["prefill_tok_s_range"]
    assert lo < exo.speed.prefill_tok_s < hi and hi / lo > 2


def test_cli_target_tps_json(tmp_path):
    f = tmp_path / "macs.json"
    f.write_text(json.dumps(macs(4)))
    proc = _cli("plan", QWEN235, "--cluster", str(f), "--target-tps", "24", "--quant", "MLX-8bit", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["machines"] == ["node0", "node1", "node2", "node3"] and d["plan"]["engine"] == "exo"
    assert d["plan"]["decode_tok_s"] >= 24


def test_bands_are_wide_where_rows_are_few():
    from llmfit_core.cluster.constants import DEFAULT_BAND, band_from_errors

    assert band_from_errors([]) == DEFAULT_BAND
    few = band_from_errors([0.05, -0.05])
    assert few[0] <= DEFAULT_BAND[0] and few[1] >= DEFAULT_BAND[1]
    many = band_from_errors([0.05, -0.05, 0.1, -0.1, 0.0, 0.02, -0.03, 0.04])
    assert many[1] - many[0] < few[1] - few[0]


def test_cpu_only_machines_run_llama_cpp_rpc_on_the_remote_cpu():
    two = plan_cluster("Qwen/Qwen3-8B", {"nodes": [{"hardware": "cpu-only-16gb", "count": 2}], "link": "1GbE"})
    one = plan_cluster("Qwen/Qwen3-8B", {"nodes": [{"hardware": "cpu-only-16gb"}]})
    assert two.best.engine == one.best.engine == "llama.cpp-rpc" and two.best.fits
    assert two.best.split.mode == "layer" and one.best.split.mode == "single"  # the layers sit on node1's CPU
    assert two.best.decode_tok_s < one.best.decode_tok_s  # and every token crosses the link


def test_a_quant_an_engine_cannot_load_rules_that_engine_out(tmp_path):
    """--quant MLX-8bit was priced as MLX weights on llama.cpp RPC too, which loads only GGUF."""
    plan = plan_cluster(QWEN235, macs(2), quant="MLX-8bit")
    by_engine = {p.engine: p for p in [plan.best] + plan.alternatives}
    assert plan.best.engine == "exo"
    rpc = by_engine["llama.cpp-rpc"]
    assert rpc.verdict == "unavailable" and "does not load MLX-8bit weights" in " ".join(rpc.reasons)
    with pytest.raises(LlmfitError, match="llama.cpp RPC does not load MLX-8bit weights: they run in mlx-lm"):
        plan_cluster(QWEN235, macs(2), engine="llama.cpp-rpc", quant="MLX-8bit")
    with pytest.raises(LlmfitError, match="exo does not load Q4_K_M weights"):
        plan_cluster(QWEN235, macs(2), engine="exo", quant="Q4_K_M")
    f = tmp_path / "macs.json"
    f.write_text(json.dumps(macs(2)))
    proc = _cli("plan", QWEN235, "--cluster", str(f), "--engine", "llama.cpp-rpc", "--quant", "MLX-8bit")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "does not load MLX-8bit" in proc.stderr
