"""A calibration is tied to the inputs it was fitted against, and kept only when it lowers the left-out error
(issue 12 item 8): after `system --measure-bandwidth` the old factor is not stacked on the new bandwidth, a
factor that makes the left-out error worse is never saved, and exported records say a bandwidth was guessed."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from llmfit_core.api import fit_spec
from llmfit_core.bench.calibration import calibrate, save_calibration
from llmfit_core.bench.exchange import anonymise, validate_record
from llmfit_core.bench.fingerprint import summary
from llmfit_core.bench.records import model_facts, predict_for
from llmfit_core.bench.runner import default_threads
from llmfit_core.hardware.fingerprint import fingerprint
from llmfit_core.hardware.profile import CPUInfo, HardwareProfile, MemoryInfo
from llmfit_core.quant import apply_quant
from llmfit_core.synth import shape_spec
from llmfit_core.throughput import calibration as cal_mod
from llmfit_core.throughput.calibration import CALIBRATION_NAME, Calibration, FittedInputs, load_calibration

BW_KEY = "cpu.mem_bandwidth_gbs"


def machine(bw: float, source: str) -> HardwareProfile:
    """The same CPU-only machine, its RAM bandwidth estimated (a guess) or measured."""
    hw = HardwareProfile(name="this machine", cpu=CPUInfo(model="Test CPU 9000", cores=2, threads=2, isa=["avx2", "fma"],
                                                          mem_bandwidth_gbs=bw), memory=MemoryInfo(total_gb=16))
    hw.sources[BW_KEY] = source
    if source == "estimated":
        hw.estimated.append(BW_KEY)
    return hw


def spec(shape="llama-1b", quant="Q4_K_M"):
    return apply_quant(shape_spec(shape), quant)


def record(hw, s, ratio: float, facts: bool = True, model: dict | None = None) -> dict:
    """A CPU bench record on `hw` measuring `ratio` x today's prediction."""
    pred = predict_for(s, hw, 640, 512, 128)
    return {"version": 1, "id": uuid.uuid4().hex, "source": "synthetic", "hardware_fingerprint": fingerprint(hw),
            "hardware": summary(hw), "model": model or (model_facts(s, "") if facts else {"quant": s.quant}),
            "settings": {"pp": 512, "tg": 128, "repeats": 3, "threads": default_threads(), "n_ctx": 640},
            "results": {"pp": {"test": "pp512", "n_tokens": 512, "tok_s": ratio * pred["pp_tok_s"]},
                        "tg": {"test": "tg128", "n_tokens": 128, "tok_s": ratio * pred["tg_tok_s"]}},
            "prediction": pred, "runtime": {"name": "llama.cpp-cpu", "llama_cpp_python": "0.3.36"}}


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    return tmp_path


def test_a_new_bandwidth_measurement_does_not_stack_the_old_factor(data_dir):
    guessed, measured = machine(24.0, "estimated"), machine(48.0, "measured")
    assert fingerprint(guessed) == fingerprint(measured)  # the same machine
    recs = [record(guessed, spec(s), 0.5) for s in ("llama-1b", "llama-3b", "llama-0.5b")]
    cal, report = calibrate(recs, guessed, directory=data_dir)
    assert report["llama.cpp-cpu"]["tg"]["kept"] and report["llama.cpp-cpu"]["tg"]["method"] == "model"
    f_tg = cal.factor("tg", "kquant")
    assert f_tg < 0.8
    saved = json.loads((data_dir / CALIBRATION_NAME).read_text())["inputs"]
    assert saved["cpu_bandwidth_gbs"] == 24.0 and saved["cpu_bandwidth_source"] == "estimated"
    assert saved["correction"] and saved["cpu_isa"] == ["avx2", "fma"]

    s = spec()
    raw = fit_spec(s, hardware=guessed, calibrated=False)
    applied = fit_spec(s, hardware=guessed)
    assert applied.decode_tok_s == pytest.approx(raw.decode_tok_s * f_tg, rel=1e-6)
    # `llmfit system --measure-bandwidth` replaced the guess: the factor was fitted against predictions made
    # with 24 GB/s; on top of the 48 GB/s prediction it would correct twice (the 1.28 -> 0.63 tok/s report)
    raw_now = fit_spec(s, hardware=measured, calibrated=False)
    now = fit_spec(s, hardware=measured)
    assert raw_now.decode_tok_s > raw.decode_tok_s
    assert now.decode_tok_s == pytest.approx(raw_now.decode_tok_s)
    note = next(r for r in now.reasons if "calibration is not applied" in r)
    assert "24 GB/s (estimated)" in note and "48 GB/s (measured)" in note and "llmfit calibrate" in note
    # calibrating again on the new figures applies again
    recs = [record(measured, spec(x), 0.7) for x in ("llama-1b", "llama-3b", "llama-0.5b")]
    cal, _ = calibrate(recs, measured, directory=data_dir)
    again = fit_spec(s, hardware=measured)
    assert again.decode_tok_s == pytest.approx(raw_now.decode_tok_s * cal.factor("tg", "kquant"), rel=1e-6)
    assert not any("not applied" in r for r in again.reasons)


def test_a_new_correction_model_or_an_old_file_is_not_applied(data_dir, monkeypatch):
    hw = machine(30.0, "measured")
    s = spec()
    raw = fit_spec(s, hardware=hw, calibrated=False)
    save_calibration(Calibration(fingerprint(hw), factors={"tg": {"*": 0.5}}, counts={"tg": {"*": 3}}, n_records=3,
                                 inputs=FittedInputs.of(hw)))
    assert fit_spec(s, hardware=hw).decode_tok_s == pytest.approx(0.5 * raw.decode_tok_s)
    monkeypatch.setattr(cal_mod, "correction_version", lambda: "retrained")
    got = fit_spec(s, hardware=hw)
    assert got.decode_tok_s == pytest.approx(raw.decode_tok_s)
    assert any("learned throughput correction changed" in r for r in got.reasons)
    monkeypatch.undo()
    monkeypatch.setenv("LLMFIT_DATA_DIR", str(data_dir))
    # a file from before the inputs were saved: read, never applied
    old = {"factors": {"tg": {"*": 0.5}}, "counts": {"tg": {"*": 3}}, "fingerprint": fingerprint(hw), "n_records": 3}
    (data_dir / CALIBRATION_NAME).write_text(json.dumps(old))
    assert load_calibration(data_dir).factor("tg", "kquant") == 0.5
    got = fit_spec(s, hardware=hw)
    assert got.decode_tok_s == pytest.approx(raw.decode_tok_s)
    assert any("older llmfit" in r and "llmfit calibrate" in r for r in got.reasons)


def _mixed_records(hw):
    """Two models the predictor misses in opposite directions: no single factor helps a model it has not seen."""
    return ([record(hw, spec("llama-1b"), 2.0) for _ in range(3)] +
            [record(hw, spec("llama-3b"), 0.5) for _ in range(3)])


def test_a_factor_that_does_not_lower_the_left_out_error_is_not_saved(data_dir):
    hw = machine(30.0, "measured")
    cal, report = calibrate(_mixed_records(hw), hw, directory=data_dir)
    for test in ("pp", "tg"):
        r = report["llama.cpp-cpu"][test]
        assert r["method"] == "model" and r["n"] == 6
        assert r["mape_after_loo"] >= r["mape_before"] and r["kept"] is False
    assert cal.calibrated_backends() == []
    saved = load_calibration(data_dir)
    assert saved.calibrated_backends() == [] and saved.inputs is not None  # "no correction", not an old one
    s = spec()
    assert fit_spec(s, hardware=hw).decode_tok_s == pytest.approx(fit_spec(s, hardware=hw, calibrated=False).decode_tok_s)


def test_calibrate_dry_run_does_not_offer_a_factor_that_makes_it_worse(data_dir, monkeypatch):
    from llmfit_core.bench import fingerprint as fp_mod
    from llmfit_core.bench.store import append_record, store_path
    from llmfit_core.cli.main import cli

    hw = machine(30.0, "measured")
    monkeypatch.setattr(fp_mod, "this_machine", lambda: hw)
    for r in _mixed_records(hw):
        append_record(r, data_dir)
    res = CliRunner().invoke(cli, ["calibrate", "--dry-run"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if "MAPE" in ln]
    assert len(lines) == 2 and all("does not improve: would not be saved" in ln for ln in lines), res.stdout
    assert "leave-one-model-out" in lines[0]
    assert "would save none" in res.stdout and "would be saved" not in res.stdout.replace("would not be saved", "")
    assert not (data_dir / CALIBRATION_NAME).exists()
    res = CliRunner().invoke(cli, ["calibrate"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "none saved" in res.stdout and "not saved" in res.stdout
    doc = json.loads(CliRunner().invoke(cli, ["calibrate", "--json", "--dry-run"]).stdout)
    assert doc["kept"] == 0 and doc["error"]["llama.cpp-cpu"]["tg"]["kept"] is False
    # records of one consistent bias: kept, and the dry run says it would be saved
    store_path().unlink()
    for s in ("llama-1b", "llama-3b"):
        append_record(record(hw, spec(s), 0.5), data_dir)
    res = CliRunner().invoke(cli, ["calibrate", "--dry-run"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "tg: MAPE" in res.stdout and ": would be saved" in res.stdout, res.stdout


def test_exported_records_say_whether_the_bandwidth_was_guessed():
    guessed, measured = machine(24.0, "estimated"), machine(48.0, "measured")
    assert summary(guessed)["mem_bandwidth_source"] == "estimated"
    assert summary(measured)["mem_bandwidth_source"] == "measured"
    for hw, src in ((guessed, "estimated"), (measured, "measured")):
        out = anonymise(record(hw, spec(), 1.0))
        assert out["hardware"]["mem_bandwidth_source"] == src and validate_record(out) is None
    old = anonymise(record(measured, spec(), 1.0))
    old["hardware"]["mem_bandwidth_source"] = None  # a record from before the field: unknown, still valid
    assert validate_record(old) is None
    old["hardware"]["mem_bandwidth_source"] = "a guess, trust me"
    assert "mem_bandwidth_source" in validate_record(old)


def test_measure_bandwidth_says_the_calibration_needs_refitting(data_dir, own_hardware_cache):
    from llmfit_core.cli.main import cli
    from llmfit_core.hardware.registry import resolve_hardware

    before = resolve_hardware(None)
    save_calibration(Calibration(fingerprint(before), factors={"tg": {"*": 0.5}}, counts={"tg": {"*": 3}},
                                 n_records=3, inputs=FittedInputs.of(before)))
    assert not Calibration.stale_because(load_calibration(), before)
    res = CliRunner().invoke(cli, ["system", "--measure-bandwidth", "--seconds", "0.2"])
    assert res.exit_code == 0, res.output
    assert "calibration is not applied" in res.stderr and "llmfit calibrate" in res.stderr, res.stderr
    after = resolve_hardware(None)
    assert after.sources.get(BW_KEY) == "measured"
    assert load_calibration().stale_because(after)
