"""Unknown names and impossible settings (issue 12 items 3 and 4): one stderr line naming the closest valid choices,
exit 1, in fit, check, hardware show and --batch (an error object per line); typed hardware names never become
another device; generic `cpu-16gb`; backends the hardware cannot run; llama.cpp's KV cache types; quants the
runtime cannot run; a context above the trained length; `--gpu-layers 0` read as CPU only by request.
"""

from __future__ import annotations

import json

import pytest

from llmfit_core.errors import HardwareProfileError, UnsupportedSettingError
from llmfit_core.hardware import registry


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    from llmfit_core.synth import write_synthetic_gguf

    path = tmp_path_factory.mktemp("validate") / "tiny.gguf"
    write_synthetic_gguf(path, "llama-tiny", "F16")  # trained context 4096
    return str(path)


def _main(args, capsys):
    from llmfit_core.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
    return code, out.out, out.err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("llmfit: error: "), err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------- hardware names


@pytest.mark.parametrize("typed,expected", [
    ("RTX4090", "RTX 4090"), ("rtx-4090", "RTX 4090"), ("4090", "RTX 4090"), ("rtx 4090", "RTX 4090"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"), ("7900xtx", "RX 7900 XTX"), ("7900 xt", "RX 7900 XT"),
    ("m3-max", "Apple M3 Max (40-core GPU)"), ("m3 max 36gb", "Apple M3 Max (30-core GPU)"),
    ("M3 Max (30-core GPU)", "Apple M3 Max (30-core GPU)"), ("rpi5-16gb", "Raspberry Pi 5 16GB"),
    ("pi5 4gb", "Raspberry Pi 5 4GB"), ("a100 40gb", "A100 PCIe 40GB"), ("A100", "A100 80GB"),
    ("4060 ti", "RTX 4060 Ti"), ("4060 ti 16gb", "RTX 4060 Ti 16GB"), ("i7-1165G7", "Intel Core i7-1165G7"),
    ("AMD Ryzen 9 7950X 16-Core Processor", "AMD Ryzen 9 7950X"), ("strix halo", "AMD Ryzen AI Max+ 395 (Radeon 8060S)"),
])
def test_typed_device_names_normalise_to_one_device(typed, expected):
    assert registry.resolve_hardware(typed).name == expected


@pytest.mark.parametrize("typed", ["rpi5", "pi5", "raspberry-pi-5", "Raspberry Pi 5", "RaspberryPi5"])
def test_raspberry_pi_5_aliases_are_the_shipped_profile(typed):
    p = registry.resolve_hardware(typed)
    assert p.name == "raspberry-pi-5" and p.memory.total_gb == 8 and not p.gpus


def test_a_memory_size_in_the_name_sets_the_memory():
    assert registry.resolve_hardware("m3 max 64gb").memory.total_gb == 64
    assert registry.resolve_hardware("Ryzen 9 7950X 64gb").memory.total_gb == 64
    assert registry.resolve_hardware("v100 16gb").gpus[0].vram_gb == 16


def test_a_variant_pick_is_said():
    p = registry.resolve_hardware("M3 Max")
    assert any("30-core" in n and "assumed" in n for n in p.notes)


@pytest.mark.parametrize("typed", ["cpu-16gb", "16gb", "16GB", "cpu 16 GB"])
def test_a_memory_size_never_becomes_a_p100(typed):
    try:
        p = registry.resolve_hardware(typed)
    except HardwareProfileError as exc:
        assert "cpu-16gb" in str(exc)
        return
    assert not p.gpus and p.memory.total_gb == 16


def test_generic_cpu_machine_says_what_it_assumed():
    p = registry.resolve_hardware("cpu-16gb")
    assert p.gpus == [] and p.memory.total_gb == 16 and p.cpu.cores == 8
    assert "cpu.mem_bandwidth_gbs" in p.estimated
    assert any("generic CPU-only machine" in n and "assumed" in n for n in p.notes)


@pytest.mark.parametrize("typed,needles", [
    ("7900", ["ambiguous", "RX 7900 XT", "RX 7900 XTX", "Radeon RX 7900 GRE"]),
    ("100", ["ambiguous", "P100", "A100 80GB", "Instinct MI100"]),
    ("mi300", ["ambiguous", "MI300A", "MI300X"]),
    ("6000", ["ambiguous", "RTX 6000 Ada", "RTX PRO 6000 Blackwell"]),
    ("RTX 4090 Ti", ["unknown device", "RTX 4090"]),
    ("rtx 4909", ["unknown device", "RTX 4090"]),
    ("rtx 4090 48gb", ["24 GB"]),
    ("cpu", ["cpu-16gb"]),
])
def test_unknown_or_ambiguous_names_are_errors_with_candidates(typed, needles):
    with pytest.raises(HardwareProfileError) as exc:
        registry.resolve_hardware(typed)
    msg = str(exc.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)


@pytest.mark.parametrize("cmd", [["check", "{m}"], ["fit", "{m}"], ["hardware", "show"]])
@pytest.mark.parametrize("typed,needle", [("16gb", "cpu-16gb"), ("7900", "RX 7900 XTX"), ("rtx 4095", "RTX 4090")])
def test_cli_unknown_hardware_one_line_exit_1(cmd, typed, needle, tiny_gguf, capsys):
    args = [a.format(m=tiny_gguf) for a in cmd]
    args = args + [typed] if cmd[0] == "hardware" else args + ["--hardware", typed]
    rc, out, err = _main(args, capsys)
    assert rc == 1 and out == ""
    assert needle in _one_error_line(err)


def test_cli_generic_cpu_runs_on_the_cpu_backend(tiny_gguf, capsys):
    rc, out, err = _main(["fit", tiny_gguf, "--hardware", "cpu-16gb", "--json"], capsys)
    assert rc == 0, err
    d = json.loads(out)
    assert d["backend"] == "llama.cpp-cpu" and d["hardware"]["name"] == "cpu-16gb"
    assert any("generic CPU-only machine" in r for r in d["reasons"])


# ---------------------------------------------------------------- impossible settings


@pytest.mark.parametrize("hardware,backend,needles", [
    ("RTX 4090", "llama.cpp-metal", ["llama.cpp-metal", "Apple", "llama.cpp-cuda"]),
    ("RTX 4090", "mlx", ["mlx", "Apple silicon"]),
    ("RTX 4090", "rocm", ["llama.cpp-rocm", "AMD"]),
    ("RTX 4090", "sycl", ["llama.cpp-sycl", "Intel"]),
    ("m3-max", "cuda", ["llama.cpp-cuda", "NVIDIA", "llama.cpp-metal", "mlx"]),
    ("RX 7900 XTX", "cuda", ["NVIDIA", "llama.cpp-rocm"]),
    ("cpu-16gb", "vulkan", ["no GPU", "llama.cpp-cpu"]),
])
def test_backend_the_hardware_cannot_run(hardware, backend, needles, tiny_gguf, capsys):
    rc, out, err = _main(["check", tiny_gguf, "--hardware", hardware, "--backend", backend], capsys)
    line = _one_error_line(err)
    assert rc == 1
    for n in needles:
        assert n in line, (n, line)


@pytest.mark.parametrize("hardware,backend", [("RTX 4090", "vulkan"), ("RX 7900 XTX", "vulkan"), ("Arc A770", "vulkan"),
                                              ("Arc A770", "sycl"), ("m3-max", "vulkan"), ("RX 7900 XTX", "rocm"),
                                              ("m3-max", "metal"), ("RTX 4090", "cpu")])
def test_backends_that_do_run(hardware, backend, tiny_gguf):
    import llmfit_core

    assert llmfit_core.fit(tiny_gguf, hardware=hardware, backend=backend).backend.endswith(backend)


def test_backend_table_covers_every_backend():
    from llmfit_core.backends import BACKENDS

    for b in BACKENDS.values():
        assert b.requires and (b.gpu_vendors or not b.gpu)


def test_unknown_backend_names_the_closest(tiny_gguf, capsys):
    rc, out, err = _main(["fit", tiny_gguf, "--backend", "cudaa"], capsys)
    assert rc == 1 and "llama.cpp-cuda" in _one_error_line(err)


@pytest.mark.parametrize("opt", ["--cache-type", "--cache-type-k", "--cache-type-v"])
def test_cache_type_outside_llamacpps_list(opt, tiny_gguf, capsys):
    rc, out, err = _main(["fit", tiny_gguf, "--hardware", "RTX 4090", opt, "q2_k"], capsys)
    line = _one_error_line(err)
    assert rc == 1 and "q2_k" in line and "q8_0" in line and "iq4_nl" in line


@pytest.mark.parametrize("ct", ["f32", "f16", "bf16", "q8_0", "Q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"])
def test_every_llamacpp_cache_type_is_accepted(ct, tiny_gguf):
    import llmfit_core

    assert llmfit_core.fit(tiny_gguf, hardware="RTX 4090", cache_type=ct).fits


def test_quantized_v_cache_without_flash_attention(tiny_gguf, capsys):
    rc, out, err = _main(["fit", tiny_gguf, "--hardware", "RTX 4090", "--cache-type", "q8_0", "--no-flash-attn"], capsys)
    assert rc == 1 and "flash attention" in _one_error_line(err)


@pytest.mark.parametrize("hardware,backend,quant,needle", [
    ("RTX 4090", "llama.cpp-cpu", "FP8", "vLLM"),
    ("RTX 4090", None, "GPTQ-4bit", "GPTQ"),
    ("RTX 4090", None, "AWQ-4bit", "AWQ"),
    ("RTX 4090", None, "MLX-4bit", "mlx-lm"),
    ("m3-max", "llama.cpp-metal", "NVFP4", "Metal"),
    ("m3-max", "mlx", "Q4_K_M", "MLX-4bit"),
])
def test_quant_the_runtime_cannot_run(hardware, backend, quant, needle, tiny_gguf, capsys):
    args = ["check", tiny_gguf, "--hardware", hardware, "--quant", quant] + (["--backend", backend] if backend else [])
    rc, out, err = _main(args, capsys)
    assert rc == 1 and needle in _one_error_line(err)


def test_nvfp4_runs_on_llamacpp_cpu(tiny_gguf):
    """llama.cpp 0.3.36 has GGML_TYPE_NVFP4 with CPU kernels (ggml-cpu/quants.c): not an impossible setting."""
    import llmfit_core

    assert llmfit_core.fit(tiny_gguf, hardware="cpu-16gb", quant="NVFP4", backend="llama.cpp-cpu").quant == "NVFP4"


def test_unknown_quant_names_the_closest(tiny_gguf, capsys):
    rc, out, err = _main(["check", tiny_gguf, "--quant", "Q4KX"], capsys)
    assert rc == 1 and "Q4_K_M" in _one_error_line(err)


def test_context_above_trained_length_needs_the_override(tiny_gguf, capsys):
    rc, out, err = _main(["check", tiny_gguf, "--hardware", "RTX 4090", "-c", "8k"], capsys)
    line = _one_error_line(err)
    assert rc == 1 and "4096" in line and "--allow-context-extension" in line and "rope" in line.lower()
    rc, out, err = _main(["fit", tiny_gguf, "--hardware", "RTX 4090", "-c", "8k", "--allow-context-extension",
                          "--json"], capsys)
    assert rc == 0, err
    d = json.loads(out)
    assert d["context"] == 8192 and "above the trained length 4096" in d["reasons"][0]
    rc, out, err = _main(["check", tiny_gguf, "--hardware", "RTX 4090", "-c", "4096"], capsys)
    assert rc == 0, err


@pytest.fixture(scope="module")
def yarn_gguf(tmp_path_factory, tiny_gguf):
    """tiny.gguf's header with the RoPE scaling keys convert_hf_to_gguf writes for a YaRN x4 config."""
    import gguf

    from llmfit_core.readers.gguf import read_gguf
    from llmfit_core.synth import finish_sparse_gguf, header_gguf_writer

    path = tmp_path_factory.mktemp("yarn") / "yarn.gguf"
    w, tensors = header_gguf_writer(path, read_gguf(tiny_gguf), "F16")
    w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    w.add_rope_scaling_factor(4.0)
    w.add_rope_scaling_orig_ctx_len(4096)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"t{i}" for i in range(32000)])
    finish_sparse_gguf(w, path, tensors)
    return str(path)


def test_context_within_the_models_own_rope_scaling_is_allowed_with_a_reason(yarn_gguf, tmp_path, capsys):
    """YaRN x4 over 4096 declared by the model: up to 16384 needs no override (llama.cpp applies it from the
    metadata), and max_context searches up to it; past it the error names 16384, not the bare 4096."""
    rc, out, err = _main(["fit", yarn_gguf, "--hardware", "RTX 4090", "-c", "16k", "--json"], capsys)
    assert rc == 0, err
    d = json.loads(out)
    assert d["context"] == 16384 and d["max_context"] == 16384
    assert any("within the model's own RoPE scaling (YaRN x4 over 4,096 = 16,384 tokens)" in r for r in d["reasons"])
    rc, out, err = _main(["check", yarn_gguf, "--hardware", "RTX 4090", "-c", "20k"], capsys)
    line = _one_error_line(err)
    assert rc == 1 and "its RoPE scaling reaches 16384" in line and "-c 16384 or less" in line
    # the same from a transformers config.json (rope_scaling with original_max_position_embeddings)
    from fakehub import llama_config

    cfg = llama_config(context=4096, rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                                   "original_max_position_embeddings": 4096})
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    rc, out, err = _main(["fit", str(tmp_path), "--hardware", "RTX 4090", "-c", "16k", "--json"], capsys)
    assert rc == 0 and json.loads(out)["max_context"] == 16384, err


def test_gpu_layers_0_is_cpu_only_by_request(tiny_gguf):
    import llmfit_core

    r = llmfit_core.fit(tiny_gguf, hardware="RTX 4090", gpu_layers=0)
    assert r.gpu_layers == 0 and r.verdict == "runs"  # a CPU run that fits, not a GPU/RAM split ("offload")
    assert any("CPU only by request" in x for x in r.reasons)
    assert not any("no layer fits" in x for x in r.reasons)
    m = llmfit_core.fit(tiny_gguf, hardware="m3-max", gpu_layers=0)
    assert any("CPU only by request" in x for x in m.reasons) and m.verdict == "runs"


def test_batch_reports_each_bad_setting_as_an_error_object(tiny_gguf, tmp_path, capsys):
    lines = [{"ref": tiny_gguf, "hardware": "cpu-16gb"},
             {"ref": tiny_gguf, "hardware": "16gb"},
             {"ref": tiny_gguf, "hardware": "7900"},
             {"ref": tiny_gguf, "hardware": "RTX 4090", "backend": "llama.cpp-metal"},
             {"ref": tiny_gguf, "hardware": "RTX 4090", "cache_type": "q2_k"},
             {"ref": tiny_gguf, "hardware": "RTX 4090", "context": 8192},
             {"ref": tiny_gguf, "hardware": "RTX 4090", "context": 8192, "allow_context_extension": True}]
    batch = tmp_path / "b.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    rc, out, err = _main(["fit", "--batch", str(batch)], capsys)
    rows = [json.loads(x) for x in out.splitlines()]
    assert rc == 0 and len(rows) == 7
    assert "error" not in rows[0] and rows[0]["backend"] == "llama.cpp-cpu"
    assert rows[1]["error"]["type"] == "HardwareProfileError" and "cpu-16gb" in rows[1]["error"]["message"]
    assert "ambiguous" in rows[2]["error"]["message"]
    for row in rows[3:6]:
        assert row["error"]["type"] == UnsupportedSettingError.__name__
    assert "error" not in rows[6] and rows[6]["context"] == 8192


def test_bench_refuses_cache_types_llamacpp_refuses():
    from llmfit_core.bench.runner import BenchSettings
    from llmfit_core.errors import BenchError

    with pytest.raises(BenchError, match="q8_0"):
        BenchSettings(cache_type_k="q2_k").validate()  # a ggml type, but not one llama.cpp's -ctk accepts
    BenchSettings(cache_type_k="q8_0", cache_type_v="iq4_nl").validate()
