"""Per-machine calibration: factor math, leave-one-out error, applying it to predictions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from llmfit_core.api import fit_spec
from llmfit_core.bench import calibration as cal_mod
from llmfit_core.bench.calibration import Sample, fit_factors, leave_one_out, samples_from_records, save_calibration
from llmfit_core.bench.runner import default_threads
from llmfit_core.hardware.fingerprint import fingerprint
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo
from llmfit_core.model_spec import ModelSpec
from llmfit_core.synth import shape_spec
from llmfit_core.throughput.calibration import (
    CALIBRATION_NAME,
    PRIOR,
    Calibration,
    FittedInputs,
    apply_calibration,
    load_calibration,
    machine_calibration,
)

HW = HardwareProfile(cpu=CPUInfo(model="Test CPU 9000", cores=4, threads=8), memory=MemoryInfo(total_gb=32))
OTHER = HardwareProfile(cpu=CPUInfo(model="Other CPU", cores=4, threads=8), memory=MemoryInfo(total_gb=32))


@dataclass
class FakePrediction:  # the fields apply_calibration uses from ThroughputPrediction
    prefill_tok_s: float
    decode_tok_s: float
    decode_range: tuple = (0.0, 0.0)
    prefill_range: tuple | None = None
    reasons: list = field(default_factory=list)


def spec(quant):
    return ModelSpec(ref="m", arch="llama", params=10**9, active_params=10**9, n_layers=16, hidden_size=2048,
                     n_heads=32, n_kv_heads=8, head_dim=64, vocab_size=32000, max_context=4096, quant=quant)


def test_factor_is_shrunk_geometric_mean():
    s = [Sample("tg", "kquant", 10.0, 20.0)] * 6  # measured half the prediction
    cal = fit_factors(s, "fp")
    expected = math.exp(6 * math.log(0.5) / (6 + PRIOR))  # overall, shrunk toward 1
    assert cal.factors["tg"]["*"] == pytest.approx(expected)
    fam_expected = math.exp((6 * math.log(0.5) + PRIOR * math.log(expected)) / (6 + PRIOR))
    assert cal.factor("tg", "kquant") == pytest.approx(fam_expected)
    assert 0.5 < cal.factor("tg", "kquant") < expected < 1.0
    assert cal.factor("pp", "kquant") == 1.0  # no pp data: no correction


def test_single_record_moves_little_and_family_falls_back_to_overall():
    cal = fit_factors([Sample("pp", "float", 40.0, 10.0)], "fp")
    assert cal.factors["pp"]["*"] == pytest.approx(4.0 ** (1 / 3))
    assert cal.factor("pp", "legacy") == pytest.approx(4.0 ** (1 / 3))  # unseen family -> overall factor


def test_families_get_separate_factors():
    s = [Sample("tg", "float", 30.0, 10.0)] * 20 + [Sample("tg", "kquant", 5.0, 10.0)] * 20
    cal = fit_factors(s, "fp")
    assert cal.factor("tg", "float") > 2.0
    assert cal.factor("tg", "kquant") < 0.6


def test_absurd_ratio_is_clamped():
    cal = fit_factors([Sample("tg", "float", 1e6, 1e-3)] * 50, "fp")
    assert cal.factor("tg", "float") == pytest.approx(cal_mod.MAX_FACTOR)


def test_leave_one_out_improves_a_consistent_bias():
    s = [Sample("tg", "kquant", 10.0 * (1 + 0.01 * i), 20.0) for i in range(10)]
    rep = leave_one_out(s)
    assert rep["tg"]["n"] == 10
    assert rep["tg"]["mape_before"] == pytest.approx(100 * sum(abs(20 - 10 * (1 + 0.01 * i)) / (10 * (1 + 0.01 * i))
                                                                 for i in range(10)) / 10)
    assert rep["tg"]["mape_after_loo"] < 15 < rep["tg"]["mape_before"]
    assert "pp" not in rep


def _record(fp, quant, meas_tg, pred_tg, threads=None, params=10**9):
    return {"hardware_fingerprint": fp, "settings": {"threads": threads or default_threads(), "n_ctx": 512},
            "model": {"quant": quant, "params": params}, "results": {"tg": {"tok_s": meas_tg}, "pp": {"tok_s": 0}},
            "prediction": {"tg_tok_s": pred_tg, "pp_tok_s": 5.0}}


def test_samples_only_from_this_machine_default_threads_and_valid_numbers():
    fp = fingerprint(HW)
    recs = [_record(fp, "Q4_K_M", 10, 20), _record("0" * 16, "Q4_K_M", 10, 20),
            _record(fp, "Q4_K_M", 10, 20, threads=default_threads() + 1), _record(fp, "Q8_0", float("nan"), 20),
            {"garbage": True}, _record(fp, "F16", 30, 10), _record(fp, "Q4_0", 10, 20, params=5_000_000)]
    s = samples_from_records(recs, fp, repredict=False)
    assert sorted((x.test, x.family, x.measured) for x in s) == [("tg", "float", 30.0), ("tg", "kquant", 10.0)]


def test_apply_calibration_scales_only_matching_hardware(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    save_calibration(Calibration(fingerprint(HW), factors={"tg": {"*": 0.5, "float": 2.0}, "pp": {"*": 3.0}},
                                 counts={"tg": {"*": 2, "float": 1}, "pp": {"*": 1}}, n_records=2,
                                 inputs=FittedInputs.of(HW)))
    p = FakePrediction(100.0, 10.0, (8.0, 12.0), (90.0, 110.0))
    cal = load_calibration()
    assert machine_calibration(HW) is cal and machine_calibration(OTHER) is None
    out = apply_calibration(p, cal, HW, spec("Q4_K_M"))
    assert (out.prefill_tok_s, out.decode_tok_s) == (pytest.approx(300.0), pytest.approx(5.0))
    assert out.decode_range == pytest.approx((4.0, 6.0)) and out.prefill_range == pytest.approx((270.0, 330.0))
    assert any("calibrated" in r for r in out.reasons)
    assert p.decode_tok_s == 10.0  # the input is not mutated
    assert apply_calibration(p, cal, HW, spec("F16")).decode_tok_s == pytest.approx(20.0)
    assert apply_calibration(p, cal, OTHER, spec("Q4_K_M")) is p
    assert apply_calibration(p, None, HW, spec("Q4_K_M")) is p
    # the bench measures the CPU backend: GPU predictions are left alone
    assert apply_calibration(p, cal, HW, spec("Q4_K_M"), backend="llama.cpp-cuda") is p
    assert apply_calibration(p, cal, HW, spec("Q4_K_M"), backend="llama.cpp-cpu").decode_tok_s == pytest.approx(5.0)
    gpu_hw = HardwareProfile(cpu=HW.cpu, memory=HW.memory, gpus=[GPUInfo("nvidia", "RTX 4090", 24)])
    save_calibration(Calibration(fingerprint(gpu_hw), factors={"tg": {"*": 0.5}}, counts={"tg": {"*": 1}},
                                 inputs=FittedInputs.of(gpu_hw)))
    cal = machine_calibration(gpu_hw)
    assert apply_calibration(p, cal, gpu_hw, spec("Q4_K_M")) is p
    assert apply_calibration(p, cal, gpu_hw, spec("Q4_K_M"), backend="llama.cpp-cpu").decode_tok_s == pytest.approx(5.0)


def test_apply_calibration_without_data_dir_changes_nothing_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path / "none"))
    p = FakePrediction(100.0, 10.0)
    assert machine_calibration(HW) is None
    assert apply_calibration(p, machine_calibration(HW), HW, spec("Q4_0")) is p
    assert not (tmp_path / "none").exists()


def test_apply_calibration_survives_a_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    (tmp_path / CALIBRATION_NAME).write_text('{"fingerprint": ')
    assert load_calibration() is None and machine_calibration(HW) is None


def test_fit_reads_the_calibration_once_per_version_of_the_file(tmp_path, monkeypatch):
    # loaded beside the predictor, once, and passed down: not read from disk by every fit_spec
    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    reads = []
    parse = Calibration.from_dict
    monkeypatch.setattr(Calibration, "from_dict", classmethod(lambda cls, d: reads.append(d) or parse(d)))
    s = shape_spec("llama-1b")
    raw = fit_spec(s, hardware=HW, calibrated=False).decode_tok_s
    save_calibration(Calibration(fingerprint(HW), factors={"tg": {"*": 0.5}}, counts={"tg": {"*": 3}}, n_records=3,
                                 inputs=FittedInputs.of(HW)))
    got = [fit_spec(s, hardware=HW).decode_tok_s for _ in range(3)]
    assert got == [pytest.approx(0.5 * raw)] * 3 and len(reads) == 1
    # a new file (`llmfit calibrate` again) is read at the next prediction
    save_calibration(Calibration(fingerprint(HW), factors={"tg": {"*": 0.25}}, counts={"tg": {"*": 3}}, n_records=3,
                                 inputs=FittedInputs.of(HW)))
    assert fit_spec(s, hardware=HW).decode_tok_s == pytest.approx(0.25 * raw) and len(reads) == 2
