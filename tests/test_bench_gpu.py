"""The GPU path of `llmfit bench --gpu-layers N`, `llmfit calibrate`, export/import and training records.

Real components throughout: the real llama-cpp-python build of this machine (CPU-only here, so a GPU
request must fall back to the CPU with one warning), the real predictor, calibration, exchange and
training code on hand-written GPU records (a CUDA workstation profile) like a GPU machine would write.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmfit_core.bench import exchange, runner
from llmfit_core.bench.calibration import calibrate, record_backend
from llmfit_core.bench.fingerprint import summary
from llmfit_core.bench.records import make_record, model_facts, predict_for, used_backend
from llmfit_core.bench.runner import BenchResult, BenchSettings, backend_of_registry, offload_warning
from llmfit_core.errors import BenchError
from llmfit_core.hardware.fingerprint import fingerprint
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo
from llmfit_core.hardware.registry import resolve_hardware
from llmfit_core.synth import shape_spec
from llmfit_core.throughput.calibration import CALIBRATION_NAME, Calibration, load_calibration

REPO = Path(__file__).resolve().parent.parent
CUDA_PROFILE = {
    "name": "cuda-workstation",
    "cpu": {"model": "AMD Ryzen 9 7950X", "cores": 16, "threads": 32, "isa": ["avx2", "avx512f", "fma"],
            "mem_bandwidth_gbs": 70},
    "memory": {"total_gb": 64, "available_gb": 56},
    "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "vram_gb": 24}],
    "unified_memory": False,
}
NO_GPU_WARNING = "this llama-cpp-python build has no GPU backend: the bench runs on the CPU"


@pytest.fixture
def cuda_hw(tmp_path):
    p = tmp_path / "cuda_workstation.json"
    p.write_text(json.dumps(CUDA_PROFILE))
    return resolve_hardware(str(p))


def _llmfit(args, tmp_path, timeout=180):
    env = dict(os.environ, LLMFIT_DATA_DIR=str(tmp_path / "data"), LLMFIT_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _gpu_build() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


# ---------------------------------------------------------------- (a) the real llama.cpp build of this machine

@pytest.mark.slow
def test_gpu_layers_on_a_cpu_only_build_warns_once_and_records_a_cpu_run(tmp_path):
    pytest.importorskip("llama_cpp")
    if _gpu_build():
        pytest.skip("this llama-cpp-python can offload: see test_gpu_layers_offload_on_a_gpu_build")
    r = _llmfit(["bench", "--synthetic", "llama-tiny:Q4_0", "--pp", "32", "--tg", "8", "-r", "1",
                 "--gpu-layers", "99", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if "GPU" in ln]
    assert len(warnings) == 1 and warnings[0].startswith("llmfit: warning: ") and NO_GPU_WARNING in warnings[0]
    out = json.loads(r.stdout)
    stored = [json.loads(x) for x in (tmp_path / "data" / "bench.jsonl").read_text().splitlines()]
    assert len(stored) == 1 and stored[0]["id"] == out["id"]
    rec = stored[0]
    assert rec["runtime"]["name"] == "llama.cpp-cpu" and "device" not in rec["runtime"]
    assert rec["settings"]["n_gpu_layers"] == 0 and rec["settings"]["n_gpu_layers_requested"] == 99
    assert rec["prediction"]["backend"] == "llama.cpp-cpu"
    assert rec["results"]["tg"]["tok_s"] > 0
    # the short alias, and no warning at all without a GPU request
    r = _llmfit(["bench", "--synthetic", "llama-tiny:Q4_0", "--pp", "16", "--tg", "4", "-r", "1", "-ngl", "0",
                 "--no-record", "--json"], tmp_path)
    assert r.returncode == 0 and NO_GPU_WARNING not in r.stderr
    assert json.loads(r.stdout)["settings"]["n_gpu_layers"] == 0


@pytest.mark.slow
def test_gpu_layers_offload_on_a_gpu_build(tmp_path):
    """Runs only where llama-cpp-python was built with a GPU backend and finds a GPU (a lent GPU machine)."""
    pytest.importorskip("llama_cpp")
    if not _gpu_build():
        pytest.skip("CPU-only llama-cpp-python build")
    r = _llmfit(["bench", "--synthetic", "llama-tiny:Q4_0", "--pp", "32", "--tg", "8", "-r", "1", "-ngl", "999",
                 "--json"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads(r.stdout)
    if "found no GPU device" in r.stderr:
        assert rec["runtime"]["name"] == "llama.cpp-cpu" and rec["settings"]["n_gpu_layers"] == 0
        return
    assert rec["runtime"]["name"] in ("llama.cpp-cuda", "llama.cpp-metal", "llama.cpp-rocm", "llama.cpp-vulkan",
                                      "llama.cpp-sycl")
    assert rec["settings"]["n_gpu_layers"] == rec["model"]["n_layers"] + 1  # 999 = every layer, as llama.cpp counts
    assert rec["prediction"]["backend"] == rec["runtime"]["name"]


@pytest.mark.parametrize("args", [["--gpu-layers", "-5"], ["-ngl", "-1"], ["--gpu-layers", "many"]])
def test_bad_gpu_layers_is_one_line_exit_2(args, tmp_path, monkeypatch, capsys):
    from llmfit_core.cli.main import main

    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--synthetic", "llama-tiny:Q4_0", "--no-record", *args])
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("llmfit: warning: plugin")]
    assert exc.value.code == 2
    assert len(err) == 1 and err[0].startswith("llmfit: error:") and "--gpu-layers" in err[0]
    assert not (tmp_path / "bench.jsonl").exists()


def test_settings_refuse_negative_gpu_layers():
    with pytest.raises(BenchError, match="--gpu-layers"):
        BenchSettings(n_gpu_layers=-5).validate()
    BenchSettings(n_gpu_layers=999).validate()
    assert BenchSettings(n_gpu_layers=7).to_dict()["n_gpu_layers"] == 7


def test_offload_warning_wording():
    assert NO_GPU_WARNING in offload_warning(99, 0, False)
    assert "no GPU device" in offload_warning(99, 0, True)
    assert offload_warning(0, 0, False) is None and offload_warning(99, 33, True) is None


# ---------------------------------------------------------------- (2) records of GPU runs

def _result(ngl_requested, ngl_used, registry=None, device=None, pp=512, tg=128):
    st = BenchSettings(pp=pp, tg=tg, repeats=1, threads=4, n_gpu_layers=ngl_requested)
    tests = [runner.TestResult.from_times("pp", pp, [0.25]), runner.TestResult.from_times("tg", tg, [2.0])]
    return BenchResult("/models/x.gguf", st, tests, 2 << 30, "0.3.36", 3.0, 1 << 28, n_gpu_layers=ngl_used,
                       gpu_offload_supported=ngl_used > 0, gpu_backend=backend_of_registry(registry),
                       gpu_device=device)


def test_backend_from_llama_cpp_devices_else_from_the_gpu_vendor(cuda_hw):
    assert backend_of_registry("CUDA") == "llama.cpp-cuda" and backend_of_registry("ROCm") == "llama.cpp-rocm"
    assert backend_of_registry("Metal") == "llama.cpp-metal" and backend_of_registry("Vulkan") == "llama.cpp-vulkan"
    assert backend_of_registry("CPU") is None and backend_of_registry(None) is None
    # llama.cpp's own device list wins over the profile (a Vulkan build on an NVIDIA card)
    assert used_backend(_result(99, 33, "Vulkan"), cuda_hw) == "llama.cpp-vulkan"
    # no device list from this llama-cpp-python: the profile's GPU vendor decides
    assert used_backend(_result(99, 33), cuda_hw) == "llama.cpp-cuda"
    for vendor, be in (("amd", "llama.cpp-rocm"), ("apple", "llama.cpp-metal"), ("intel", "llama.cpp-vulkan")):
        hw = HardwareProfile(cpu=CPUInfo(), memory=MemoryInfo(16), gpus=[GPUInfo(vendor, "some gpu", 8)])
        assert used_backend(_result(99, 33), hw) == be
    assert used_backend(_result(99, 33), HardwareProfile(memory=MemoryInfo(16))) == "llama.cpp-vulkan"
    assert used_backend(_result(99, 0), cuda_hw) == "llama.cpp-cpu"  # nothing offloaded: a CPU run


def test_gpu_record_has_backend_layers_gpu_facts_and_a_matching_prediction(cuda_hw):
    spec = shape_spec("llama-1b")
    res = _result(999, spec.n_layers + 1, "CUDA", "NVIDIA GeForce RTX 4090")
    be = used_backend(res, cuda_hw)
    pred = predict_for(spec, cuda_hw, 1024, 512, 128, backend=be, gpu_layers=res.n_gpu_layers)
    cpu_pred = predict_for(spec, cuda_hw, 1024, 512, 128)
    rec = make_record(res, cuda_hw, spec, pred)
    assert rec["version"] == 1 and rec["runtime"] == {"name": "llama.cpp-cuda", "llama_cpp_python": "0.3.36",
                                                      "device": "NVIDIA GeForce RTX 4090"}
    assert rec["settings"]["n_gpu_layers"] == spec.n_layers + 1 and "n_gpu_layers_requested" in rec["settings"]
    g = rec["hardware"]["gpus"][0]
    assert g["name"] == "NVIDIA GeForce RTX 4090" and g["vram_gb"] == 24
    assert g["bandwidth_gbs"] == pytest.approx(1008, rel=0.01) and g["fp16_tflops"] > 100
    assert g["compute_capability"] == "8.9" and "gpu_cores" in g
    assert pred["backend"] == "llama.cpp-cuda" and pred["gpu_layers"] == spec.n_layers + 1
    assert cpu_pred["backend"] == "llama.cpp-cpu" and pred["tg_tok_s"] > 3 * cpu_pred["tg_tok_s"]
    partial = predict_for(spec, cuda_hw, 1024, 512, 128, backend=be, gpu_layers=4)
    assert partial["gpu_layers"] == 4 and cpu_pred["tg_tok_s"] < partial["tg_tok_s"] < pred["tg_tok_s"]


def test_unknown_gpu_figures_are_recorded_as_unknown():
    hw = resolve_hardware({"name": "x", "cpu": {"cores": 4}, "memory": {"total_gb": 16},
                           "gpus": [{"vendor": "nvidia", "name": "Mystery Accelerator 1", "vram_gb": 8}]})
    assert hw.gpus[0].bandwidth_gbs  # the predictor assumed a figure ...
    g = summary(hw)["gpus"][0]
    assert g["bandwidth_gbs"] is None and g["fp16_tflops"] is None  # ... the record does not pass it off as a fact


# ---------------------------------------------------------------- (b) calibration per backend

def _gpu_record(hw, spec, ratio, ngl=999, threads=3, backend="llama.cpp-cuda"):
    """A record as `llmfit bench --gpu-layers` writes it on `hw`, measuring `ratio` x today's prediction."""
    pred = predict_for(spec, hw, 640, 512, 128, backend=backend, gpu_layers=None if ngl >= spec.n_layers + 1 else ngl)
    return {"version": 1, "id": uuid.uuid4().hex, "source": "synthetic", "hardware_fingerprint": fingerprint(hw),
            "hardware": summary(hw), "model": model_facts(spec, ""),
            "settings": {"pp": 512, "tg": 128, "repeats": 3, "threads": threads, "n_ctx": 640, "n_gpu_layers": ngl},
            "results": {"pp": {"test": "pp512", "n_tokens": 512, "tok_s": ratio * pred["pp_tok_s"]},
                        "tg": {"test": "tg128", "n_tokens": 128, "tok_s": ratio * pred["tg_tok_s"]}},
            "prediction": pred, "runtime": {"name": backend, "llama_cpp_python": "0.3.36"}}


def _spec(quant="Q4_K_M", shape="llama-1b"):
    from llmfit_core.quant import apply_quant

    return apply_quant(shape_spec(shape), quant)


def test_gpu_records_calibrate_their_backend_only(cuda_hw, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    from llmfit_core.api import fit_spec

    spec = _spec()
    # thread counts that are not the default: GPU records count anyway (CPU records would not)
    recs = [_gpu_record(cuda_hw, _spec(shape=s), 0.5, threads=t) for s, t in (("llama-1b", 3), ("llama-3b", 5),
                                                                              ("llama-0.5b", 7))]
    other = resolve_hardware({**CUDA_PROFILE, "gpus": [{"vendor": "nvidia", "name": "RTX 3090", "vram_gb": 24}]})
    recs.append(_gpu_record(other, spec, 4.0))  # another machine: ignored
    assert record_backend(recs[0]) == ("llama.cpp-cuda", 999)
    cal, report = calibrate(recs, cuda_hw, directory=tmp_path)
    assert set(report) == {"llama.cpp-cuda"} and report["llama.cpp-cuda"]["tg"]["n"] == 3
    assert cal.factors == {} and cal.calibrated_backends() == ["llama.cpp-cuda"]
    f_tg = cal.factor("tg", "kquant", "llama.cpp-cuda")
    overall = 3 * math.log(0.5) / 5  # 3 records at x0.5, shrunk toward 1 (PRIOR 2) ...
    assert cal.factor("tg", "*", "llama.cpp-cuda") == pytest.approx(math.exp(overall), rel=1e-6)
    assert f_tg == pytest.approx(math.exp((3 * math.log(0.5) + 2 * overall) / 5), rel=1e-6)  # ... family toward overall
    assert cal.factor("tg", "kquant") == 1.0  # no CPU factors
    saved = json.loads((tmp_path / CALIBRATION_NAME).read_text())
    assert saved["factors"] == {} and "llama.cpp-cuda" in saved["backends"]
    assert load_calibration(tmp_path).factor("tg", "kquant", "llama.cpp-cuda") == pytest.approx(f_tg)

    raw_cuda = fit_spec(spec, hardware=cuda_hw, context=640, backend="llama.cpp-cuda", calibrated=False)
    cal_cuda = fit_spec(spec, hardware=cuda_hw, context=640, backend="llama.cpp-cuda")
    assert cal_cuda.decode_tok_s == pytest.approx(raw_cuda.decode_tok_s * f_tg, rel=1e-6)
    default = fit_spec(spec, hardware=cuda_hw, context=640)  # the hardware's own backend is CUDA
    assert default.backend == "llama.cpp-cuda" and default.decode_tok_s == pytest.approx(cal_cuda.decode_tok_s)
    # never to CPU predictions, nor to another machine
    raw_cpu = fit_spec(spec, hardware=cuda_hw, context=640, backend="llama.cpp-cpu", calibrated=False)
    assert fit_spec(spec, hardware=cuda_hw, context=640, backend="llama.cpp-cpu").decode_tok_s == raw_cpu.decode_tok_s
    raw_other = fit_spec(spec, hardware=other, context=640, backend="llama.cpp-cuda", calibrated=False)
    assert fit_spec(spec, hardware=other, context=640, backend="llama.cpp-cuda").decode_tok_s == raw_other.decode_tok_s


def test_cpu_and_gpu_records_on_one_machine_get_separate_factors(cuda_hw, tmp_path):
    from llmfit_core.bench.runner import default_threads

    gpu = [_gpu_record(cuda_hw, _spec(shape=s), 0.5) for s in ("llama-1b", "llama-3b")]
    cpu = [_gpu_record(cuda_hw, _spec(shape=s), 2.0, ngl=0, threads=default_threads(), backend="llama.cpp-cpu")
           for s in ("llama-1b", "llama-3b")]
    cpu.append(_gpu_record(cuda_hw, _spec(), 10.0, ngl=0, threads=default_threads() + 1, backend="llama.cpp-cpu"))
    cal, report = calibrate(gpu + cpu, cuda_hw, directory=tmp_path, save=False)
    assert set(report) == {"llama.cpp-cpu", "llama.cpp-cuda"}
    assert report["llama.cpp-cpu"]["tg"]["n"] == 2  # the CPU run at a non-default thread count is left out
    assert cal.factor("tg", "kquant") > 1.2 and cal.factor("tg", "kquant", "llama.cpp-cuda") < 0.8
    assert cal.n_records == 2 and cal.backends["llama.cpp-cuda"].n_records == 2
    assert not (tmp_path / CALIBRATION_NAME).exists()


def test_an_old_calibration_file_still_means_cpu_factors(cuda_hw, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    from llmfit_core.api import fit_spec

    spec = _spec()
    old = {"counts": {"pp": {"*": 4}, "tg": {"*": 4}}, "factors": {"pp": {"*": 1.5}, "tg": {"*": 0.8}},
           "fingerprint": fingerprint(cuda_hw), "n_records": 4, "prior": 2.0}  # as the first version wrote it
    (tmp_path / CALIBRATION_NAME).write_text(json.dumps(old, indent=1, sort_keys=True))
    cal = load_calibration(tmp_path)
    assert cal.calibrated_backends() == ["llama.cpp-cpu"] and cal.factor("tg", "float") == 0.8
    raw = fit_spec(spec, hardware=cuda_hw, context=640, backend="llama.cpp-cpu", calibrated=False)
    got = fit_spec(spec, hardware=cuda_hw, context=640, backend="cpu")
    # read, but not applied: the file does not say which bandwidth/correction its factors were fitted against
    # (applied on top of a changed prediction it stacks two corrections), so `fit` asks for a new calibrate
    assert got.decode_tok_s == pytest.approx(raw.decode_tok_s) and got.prefill_tok_s == pytest.approx(raw.prefill_tok_s)
    assert any("older llmfit" in r and "llmfit calibrate" in r for r in got.reasons)
    raw_gpu = fit_spec(spec, hardware=cuda_hw, context=640, backend="llama.cpp-cuda", calibrated=False)
    assert fit_spec(spec, hardware=cuda_hw, context=640, backend="llama.cpp-cuda").decode_tok_s == raw_gpu.decode_tok_s
    # and a new file keeps the CPU factors where the old reader looks for them
    new = Calibration.from_dict({**old, "backends": {"cuda": {"factors": {"tg": {"*": 0.5}}, "counts": {"tg": {"*": 3}},
                                                              "n_records": 3}}})
    d = new.to_dict()
    assert d["factors"] == old["factors"] and d["backends"]["llama.cpp-cuda"]["factors"] == {"tg": {"*": 0.5}}


def test_calibrate_cli_names_the_backend_on_each_line(cuda_hw, tmp_path, monkeypatch):
    from llmfit_core.bench import fingerprint as fp_mod
    from llmfit_core.bench.store import append_record
    from llmfit_core.cli.main import cli

    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(fp_mod, "this_machine", lambda: cuda_hw)  # the CLI runs "on" the CUDA workstation
    for s in ("llama-1b", "llama-3b"):
        append_record(_gpu_record(cuda_hw, _spec(shape=s), 0.5), tmp_path)
    res = CliRunner().invoke(cli, ["calibrate"], terminal_width=200)
    assert res.exit_code == 0, res.output
    rows = [ln for ln in res.output.splitlines() if "x0." in ln or "MAPE" in ln]
    assert rows and all("llama.cpp-cuda" in ln for ln in rows)
    res = CliRunner().invoke(cli, ["calibrate", "--json", "--dry-run"])
    doc = json.loads(res.output)
    assert set(doc["error"]) == {"llama.cpp-cuda"} and "llama.cpp-cuda" in doc["calibration"]["backends"]


# ---------------------------------------------------------------- (c) training rows of GPU records

def _write_jsonl(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_gpu_records_become_rows_of_their_backend_with_the_gpu_figures(cuda_hw, tmp_path):
    data = pytest.importorskip("training.data")
    from llmfit_core.throughput.roofline import hardware_figures
    from training.table import build_table

    full = _gpu_record(cuda_hw, _spec(), 0.9)
    full["hardware"]["gpus"][0]["bandwidth_gbs"] = 950.0  # a measured figure beats the table's
    partial = _gpu_record(cuda_hw, _spec(), 0.9, ngl=6)
    unknown = _gpu_record(cuda_hw, _spec(), 0.9)
    unknown["hardware"]["gpus"][0].update(bandwidth_gbs=None, fp16_tflops=None, compute_capability=None)
    cpu = _gpu_record(cuda_hw, _spec(), 1.0, ngl=0, backend="llama.cpp-cpu")
    report = data.LoadReport()
    rows = data.record_rows(_write_jsonl(tmp_path / "gpu.jsonl", [full, partial, unknown, cpu]), report)
    assert len(rows) == 8 and not report.skipped
    r_full, r_part, r_unknown, r_cpu = rows[0], rows[2], rows[4], rows[6]
    assert {r.backend for r in rows[:6]} == {"llama.cpp-cuda"} and r_cpu.backend == "llama.cpp-cpu"
    assert r_full.hardware.gpus[0].bandwidth_gbs == 950.0 and r_full.device == "RTX 4090"
    # missing figures are filled from the device table, as the predictor fills them
    assert r_unknown.hardware.gpus[0].bandwidth_gbs == pytest.approx(cuda_hw.gpus[0].bandwidth_gbs)
    assert r_unknown.hardware.gpus[0].fp16_tflops == pytest.approx(cuda_hw.gpus[0].fp16_tflops)
    assert r_full.placement["gpu_layers"] == r_full.placement["total_layers"] == r_full.spec.n_layers + 1
    assert r_part.placement["gpu_layers"] == 6
    assert r_cpu.placement is None and not r_cpu.hardware.gpus and r_cpu.device == "AMD Ryzen 9 7950X (16c)"
    hf = hardware_figures(r_full.hardware, r_full.backend, r_full.placement, n_layers=r_full.spec.n_layers)
    assert hf.gpu_frac == 1.0 and hf.gpu_bw_gbs == pytest.approx(950.0)
    hp = hardware_figures(r_part.hardware, r_part.backend, r_part.placement, n_layers=r_part.spec.n_layers)
    assert 0 < hp.gpu_frac < 0.5
    table = build_table(rows)
    assert all(math.isfinite(x) for x in table.target)


def test_the_shipped_local_records_stay_cpu_rows():
    data = pytest.importorskip("training.data")
    report = data.LoadReport()
    rows = data.record_rows(REPO / "data" / "benchdata" / "local_amd_epyc_2c_llamacpp0336.jsonl", report)
    assert len(rows) == 36 and {r.backend for r in rows} == {"llama.cpp-cpu"}
    assert all(r.placement is None and not r.hardware.gpus for r in rows)


# ---------------------------------------------------------------- (d) export -> import keeps the backend

def test_export_import_round_trip_keeps_backend_and_gpu_facts(cuda_hw, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    rec = _gpu_record(cuda_hw, _spec(), 0.7, ngl=10)
    rec["runtime"]["device"] = "NVIDIA GeForce RTX 4090"
    cpu = _gpu_record(cuda_hw, _spec(), 1.0, ngl=0, backend="llama.cpp-cpu")
    out = tmp_path / "share.json"
    assert exchange.export_records([rec, cpu], out) == 2
    res = exchange.import_file(out, data_dir)
    assert res.added == 2 and not res.rejected
    back = {r["id"]: r for r in (json.loads(x) for x in (data_dir / exchange.IMPORTED_NAME).read_text().splitlines())}
    g = back[rec["id"]]
    assert g["runtime"] == {"name": "llama.cpp-cuda", "llama_cpp_python": "0.3.36", "device": "NVIDIA GeForce RTX 4090"}
    assert g["settings"]["n_gpu_layers"] == 10
    assert g["hardware"]["gpus"][0]["bandwidth_gbs"] == pytest.approx(cuda_hw.gpus[0].bandwidth_gbs)
    assert g["hardware"]["gpus"][0]["compute_capability"] == "8.9"
    assert back[cpu["id"]]["runtime"]["name"] == "llama.cpp-cpu"
    with open(res.rows_path, newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert sorted({(r["backend"], r["n_gpu_layers_or_note"].split(",")[1].strip()) for r in csv_rows}) == [
        ("CPU", "CPU-only"), ("CUDA", "n_gpu_layers 10")]
    data = pytest.importorskip("training.data")
    rows = data.record_rows(data_dir / exchange.IMPORTED_NAME, data.LoadReport())
    assert sorted({r.backend for r in rows}) == ["llama.cpp-cpu", "llama.cpp-cuda"]
    assert all(r.placement["gpu_layers"] == 10 for r in rows if r.backend == "llama.cpp-cuda")


def test_import_rejects_an_unknown_backend_and_bad_gpu_layers(cuda_hw, tmp_path):
    bad_be = exchange.anonymise(_gpu_record(cuda_hw, _spec(), 1.0))
    bad_be["runtime"]["name"] = "llama.cpp-quantum"
    bad_ngl = exchange.anonymise(_gpu_record(cuda_hw, _spec(), 1.0))
    bad_ngl["settings"]["n_gpu_layers"] = "all"
    p = tmp_path / "in.json"
    p.write_text(json.dumps({"format": exchange.EXPORT_FORMAT, "version": 1, "records": [bad_be, bad_ngl]}))
    r = exchange.import_file(p, tmp_path)
    assert r.added == 0 and "backend" in r.rejected[0] and "n_gpu_layers" in r.rejected[1]
