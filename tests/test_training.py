"""Training pipeline of the throughput correction: data loading, ONNX export parity, reproducibility."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llmfit_core.throughput.correction import load_correction  # noqa: E402
from llmfit_core.throughput.features import FEATURES  # noqa: E402
from training.data import load_rows, parse_test  # noqa: E402
from training.model_configs import build_spec  # noqa: E402
from training.table import build_table  # noqa: E402
from training.train_throughput import export_onnx, make_model, wquantile  # noqa: E402

PUBLIC_FIELDS = ("device", "backend", "model", "params_b", "quant", "test", "tok_s", "n_gpu_layers_or_note")


@pytest.fixture(scope="module")
def public():
    return load_rows()


def test_public_rows_resolve_devices_models_and_tests(public):
    rows, report = public
    assert len(rows) > 1000
    assert report.used["xiongjiedai_gpu_benchmarks.csv"] > 900
    assert report.skipped["device not in hardware table (geerlingguy system)"] > 0
    multi = [r for r in rows if r.source.startswith("xiong") and len(r.hardware.gpus) == 4]
    assert multi and all(r.device in ("RTX 3090", "RTX 4090", "RTX 5000 Ada", "RTX A6000", "RTX 6000 Ada", "A40",
                                      "A100 PCIe 80GB", "H100 PCIe") for r in multi)
    unverified = [r for r in rows if "unverified" in r.source]
    assert unverified and all(r.weight < 0.5 for r in unverified)
    assert all(r.tok_s > 0 for r in rows)


def test_parse_test_labels():
    assert parse_test("pp512") == ("pp", 512, 0.0, 0)
    assert parse_test("tg128") == ("tg", 512, 64.0, 0)
    assert parse_test("tg_main")[3] == 1 and parse_test("tg_eval_rate")[3] == 2
    assert parse_test("pp4096+tg128") is None


def test_model_configs_match_published_sizes():
    # llama-3-8b has 8.03 B parameters; Q4_K_M files are about 4.9 GB
    s = build_spec("llama-3-8b", "Q4_K_M")
    assert s.params == pytest.approx(8.03e9, rel=0.01)
    assert s.weight_bytes == pytest.approx(4.92e9, rel=0.03)
    moe = build_spec("qwen3-30b-a3b", "Q4_K_M")
    assert moe.params == pytest.approx(30.5e9, rel=0.02) and moe.active_params == pytest.approx(3.3e9, rel=0.05)


def test_extra_rows_csv_and_bench_records_are_loaded(tmp_path):
    csv_path = tmp_path / "rows.csv"
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=PUBLIC_FIELDS)
        w.writeheader()
        w.writerow(dict(device="RTX 3060", backend="CUDA", model="llama-3-8b", params_b=8, quant="Q4_K_M", test="tg128", tok_s=50,
                        n_gpu_layers_or_note="local"))
        w.writerow(dict(device="Unknown GPU 9000", backend="CUDA", model="llama-3-8b", params_b=8, quant="Q4_K_M", test="tg128", tok_s=50,
                        n_gpu_layers_or_note="local"))
    spec = build_spec("tinyllama-1.1b", "Q4_K_M").to_dict()
    rec = {"hardware": {"cpu_model": "AMD EPYC", "cpu_cores": 2, "cpu_threads": 2, "cpu_arch": "x86_64", "cpu_isa": ["avx2"],
                        "mem_bandwidth_gbs": 20.0, "ram_gb": 8, "gpus": []},
           "model": spec, "settings": {"threads": 2},
           "results": {"pp": {"test": "pp64", "n_tokens": 64, "tok_s": 40.0}, "tg": {"test": "tg16", "n_tokens": 16, "tok_s": 9.0}}}
    jl = tmp_path / "records.jsonl"
    jl.write_text(json.dumps(rec) + "\n" + json.dumps({"hardware": {}}) + "\n\n")
    rows, report = load_rows([csv_path, jl])
    base, _ = load_rows()
    assert len(rows) == len(base) + 1 + 2
    assert report.used["rows.csv"] == 1 and report.used["bench:records.jsonl"] == 2
    assert report.skipped["device facts missing"] >= 1
    assert sum(v for k, v in report.skipped.items() if k.startswith("bad record") or k.startswith("record without")) == 1
    local = [r for r in rows if r.source == "bench:records.jsonl"]
    assert {r.test for r in local} == {"pp", "tg"} and local[0].threads == 2
    table = build_table(local)  # runs through the same roofline as inference
    assert np.all(np.isfinite(table.target))


def test_weighted_quantile():
    x = np.array([3.0, 1.0, 2.0, 4.0])
    assert wquantile(x, 0.5) == 2.0
    assert wquantile(x, 0.5, np.array([0, 0, 0, 1.0])) == 4.0


def test_onnx_export_matches_sklearn(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, len(FEATURES))).astype(np.float32)
    models = {}
    for head, coef in (("decode", 0.3), ("prefill", -0.2)):
        y = coef * X[:, 0] + 0.1 * np.sin(X[:, 3])
        models[head] = make_model().set_params(n_estimators=30).fit(X, y)
        export_onnx(models[head], tmp_path / f"throughput_{head}.onnx", head, (-0.1, 0.2), 200)
    corr = load_correction(tmp_path)
    assert corr.ok, corr.reason
    out = corr.apply(X)
    for head, m in models.items():
        np.testing.assert_allclose(out[head], m.predict(X), atol=1e-5)
    assert corr.band("decode") == (-0.1, 0.2)


@pytest.mark.slow
def test_training_reproduces_shipped_weights(tmp_path):
    """Same data -> the same ONNX bytes as the files in weights/ (they are regenerated, not hand-edited)."""
    from training.train_throughput import LOCAL_RECORDS, train

    extra = [str(LOCAL_RECORDS)]
    train(extra, out_dir=tmp_path, quiet=True)
    shipped = REPO / "weights"
    command = regenerate_command(extra)
    for name in ("throughput_decode.onnx", "throughput_prefill.onnx", "throughput_reference.json", "MODEL_CARD.md"):
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), f"{name} differs: rerun {command}"


def regenerate_command(extra: list[str]) -> str:
    """The exact command that rebuilds weights/ from the same data as the test (the card names it too)."""
    from training.train_throughput import _rel

    return "python -m training.train_throughput" + (" --extra " + " ".join(_rel(e) for e in extra) if extra else "")


def test_the_regenerate_hint_is_the_command_the_model_card_names():
    from training.train_throughput import LOCAL_RECORDS

    card = (REPO / "weights" / "MODEL_CARD.md").read_text()
    assert f"`{regenerate_command([str(LOCAL_RECORDS)])}`" in card


def test_local_bench_records_are_their_own_device_with_the_measured_bandwidth():
    from training.train_throughput import LOCAL_RECORDS

    rows, report = load_rows([str(LOCAL_RECORDS)])
    local = [r for r in rows if r.source.startswith("bench:")]
    assert len(local) == 36 and report.used[f"bench:{LOCAL_RECORDS.name}"] == 36
    assert {r.device for r in local} == {"AMD EPYC (2c)"}
    assert all(r.hardware.sources.get("cpu.mem_bandwidth_gbs") == "measured" and r.hardware.cpu.mem_bandwidth_gbs == 55.0
               for r in local)
    assert {r.test for r in local} == {"pp", "tg"} and all(r.threads == 2 for r in local)


def test_gate_also_judges_the_correction_on_rows_whose_quant_is_stated():
    """Rows priced at an assumed quantization carry the assumption's error in their residuals: the per-backend gate
    must not open because the correction fits them when it makes the rows whose quant is stated worse."""
    from training.train_throughput import GATE_TOLERANCE, HeadData, gate_row_sets

    n = 10
    assumed = np.array([False] * 2 + [True] * 8)
    d = HeadData(X=np.zeros((n, 1)), y=np.zeros(n), w=np.ones(n), g=np.array(list("aabbccddee")), bk=np.array([5] * 8 + [0] * 2),
                 meas=np.where(assumed, 2.0, 1.0), roof=np.ones(n), prim=np.ones(n, bool), stated=~assumed)
    tr = np.arange(n)
    sets = gate_row_sets(d, tr, 5)
    assert [s.tolist() for s in sets] == [[True] * 8 + [False] * 2, [True] * 2 + [False] * 8]
    # a backend whose rows are all assumed (or all stated) is judged on all of them
    assert [s.tolist() for s in gate_row_sets(d, tr, 0)] == [[False] * 8 + [True] * 2]
    # the roofline is exact on the stated rows and 2x off on the assumed ones: a correction of +log 2 "wins" on all
    # of the backend's rows but loses on the stated ones: one set says no, so the gate keeps the roofline
    corr = np.full(n, np.log(2.0))
    verdicts = [d.mape(tr[r], corr[r]) <= GATE_TOLERANCE * d.mape(tr[r], np.zeros(int(r.sum()))) for r in sets]
    assert verdicts == [True, False]


def test_breakdown_scores_each_backend_on_its_rows_whose_quant_is_stated():
    from types import SimpleNamespace

    from training.breakdown import Scored, breakdown, row_labels

    def row(backend, assumed):
        spec = SimpleNamespace(n_recurrent_layers=0, kv_lora_rank=0, swa_layers=None, is_moe=False)
        hw = SimpleNamespace(gpus=[])
        return SimpleNamespace(backend=backend, spec=spec, hardware=hw, device="d", quant_assumed=assumed)

    rows = [row("llama.cpp-cpu", False), row("llama.cpp-cpu", True), row("llama.cpp-rocm", False)]
    labels = row_labels(rows)
    assert labels["quant stated"].tolist() == ["cpu", "assumed (any backend)", "rocm"]
    out = breakdown([Scored("decode", np.array([1.0, 3.0, 1.5]), np.ones(3), labels)], dims=("quant stated",))
    cpu = next(r for r in out if r["label"] == "cpu")["decode"]
    assert cpu["n"] == 1 and cpu["mape"] == 0.0  # the assumed-quant CPU row (3x off) is not in the CPU figure


def test_a_split_prompt_row_below_half_its_one_gpu_row_is_named_doubtful():
    """The >3x rows the card calls a model error must not include a row its own source contradicts: 4 GPUs of a
    layer split running a prompt at 0.49x of one of them, where every other split row keeps over half."""
    from types import SimpleNamespace as NS

    from training.threads_data import doubt_reason

    def row(n_gpus, tok_s, quant="F16"):
        return NS(source="xiongjiedai_gpu_benchmarks.csv", device="RTX 5000 Ada", note="", test="pp", prompt_tokens=1024,
                  tok_s=tok_s, bench_kind=0, backend="llama.cpp-cuda", hardware=NS(gpus=[object()] * n_gpus, cpu=NS(model="x")),
                  spec=NS(ref="llama-3-8b", quant=quant, is_moe=False))

    one, slow, fine = row(1, 5835.4), row(4, 2877.7), row(4, 6530.8)
    rows = [one, slow, fine, row(1, 4467.5, "Q4_K_M")]
    assert "0.49x the same source's one-GPU row" in doubt_reason(slow, rows)
    assert doubt_reason(fine, rows) == "" and doubt_reason(one, rows) == ""
    assert doubt_reason(slow) == ""  # without the table there is nothing to compare with
