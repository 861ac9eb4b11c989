"""`llmfit ollama timings NAME`: the counters Ollama reports (eval / prompt_eval) become "observed" bench records
that calibrate can use and bench --history lists; from the local server or a saved file of answers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fakeollama import FakeOllama, install_local, make_model

from llmfit_core.bench import store
from llmfit_core.bench.calibration import samples_from_records
from llmfit_core.bench.fingerprint import this_machine
from llmfit_core.cli.main import cli
from llmfit_core.hardware.fingerprint import fingerprint


@pytest.fixture
def ollama(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    with FakeOllama() as fake:
        m = make_model("tiny", "latest", "tiny")
        fake.add(m, installed=True)
        install_local(models, m)
        for k, v in {"OLLAMA_MODELS": str(models), "OLLAMA_HOST": fake.url, "LLMFIT_OLLAMA_REGISTRY": fake.url,
                     "LLMFIT_DATA_DIR": str(tmp_path / "data")}.items():
            monkeypatch.setenv(k, v)
        yield fake


def test_timings_from_the_server_are_recorded(ollama, tmp_path):
    ollama.loaded = [{"name": "tiny:latest", "model": "tiny:latest", "size": 1 << 20, "size_vram": 0}]
    res = CliRunner().invoke(cli, ["ollama", "timings", "tiny"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "recorded tiny: pp 200.0 tok/s (80), tg 20.0 tok/s (64) [llama.cpp-cpu]"
    assert ("POST", "/api/generate") in ollama.requests
    (rec,) = store.read_records(tmp_path / "data")
    assert rec["source"] == "observed" and rec["runtime"] == {"name": "llama.cpp-cpu", "runner": "ollama"}
    assert rec["results"]["tg"]["tok_s"] == pytest.approx(64 / 3.2)
    assert rec["hardware_fingerprint"] == fingerprint(this_machine())
    res = CliRunner().invoke(cli, ["bench", "--history", "--json"])
    assert [r["source"] for r in json.loads(res.output)] == ["observed"]


def test_saved_answers_are_imported_and_short_ones_skipped(ollama, tmp_path):
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"eval_count": 128, "eval_duration": 4_000_000_000, "prompt_eval_count": 512,
                                   "prompt_eval_duration": 1_000_000_000}) + "\n"
                       + json.dumps({"eval_count": 2, "eval_duration": 1_000_000}) + "\n")
    res = CliRunner().invoke(cli, ["ollama", "timings", "tiny", "--from", str(answers), "--json"])
    assert res.exit_code == 0, res.output
    (rec,) = json.loads(res.output)
    assert rec["results"]["pp"]["tok_s"] == 512.0 and rec["results"]["tg"]["tok_s"] == 32.0
    assert ("POST", "/api/generate") not in ollama.requests
    recs = store.read_records(tmp_path / "data")
    assert len(recs) == 1
    # a bench-comparable observed run (pp512/tg128) counts at the observed weight in calibration
    big = [dict(recs[0], model=dict(recs[0]["model"], params=8_000_000_000))]
    samples = samples_from_records(big, fingerprint(this_machine()))
    assert {s.test for s in samples} == {"pp", "tg"} and all(s.weight == 0.5 for s in samples)


def test_bad_input_is_one_line(ollama, tmp_path):
    res = CliRunner().invoke(cli, ["ollama", "timings", "nope"])
    assert res.exit_code == 1 and "nope" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["ollama", "timings", "tiny", "--from", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 1 and "cannot read" in res.output
