"""Timings learned from normal use: generations under the guard record llama.cpp's own counters as "observed"
records (real llama-cpp-python, real synthetic GGUF, in a subprocess); calibrate uses them, bench --history lists
them; LLMFIT_RECORD=0 turns it off; a store that cannot be written costs one warning, never the generation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmfit_core.bench import store
from llmfit_core.bench.calibration import OBSERVED_WEIGHT, fit_factors, samples_from_records
from llmfit_core.bench.fingerprint import this_machine
from llmfit_core.bench.runner import default_threads
from llmfit_core.cli.main import cli
from llmfit_core.hardware.fingerprint import fingerprint
from llmfit_core.synth import shape_spec, write_synthetic_gguf

llama_cpp = pytest.importorskip("llama_cpp")
ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
import llmfit_core.guard as guard
guard.install(mode="auto")
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=1024, n_threads=int(sys.argv[2]), n_threads_batch=int(sys.argv[2]),
            verbose=False, seed=1)
eos = llm.token_eos()
out = llm("the quick brown fox " * 20, max_tokens=12, temperature=0.0, logit_bias={eos: -100.0})
assert out["choices"][0]["text"] is not None
chunks = list(llm.create_completion("hello there " * 10, max_tokens=8, stream=True, logit_bias={eos: -100.0}))
assert chunks
print("generated", out["usage"]["completion_tokens"], len(chunks))
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    # llama-tiny generates in well under a second even on a busy 2-core machine
    return write_synthetic_gguf(tmp_path_factory.mktemp("observed") / "llama-tiny-f16.gguf", "llama-tiny", "F16")


def _run(model, data_dir, **env_extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
               LLMFIT_DATA_DIR=str(data_dir), **env_extra)
    env.pop("LLMFIT_RECORD", None) if "LLMFIT_RECORD" not in env_extra else None
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(model), str(default_threads())],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("generated")
    return proc


@pytest.mark.slow
def test_generations_are_recorded_and_calibrate_and_history_use_them(model, tmp_path, monkeypatch):
    _run(model, tmp_path)
    recs = store.read_records(tmp_path)
    assert [r["source"] for r in recs] == ["observed", "observed"]
    first, streamed = recs
    assert first["hardware_fingerprint"] == fingerprint(this_machine())
    assert first["model"]["arch"] == "llama" and first["model"]["n_layers"] == 4
    assert first["settings"]["n_ctx"] == 1024 and first["settings"]["threads"] == default_threads()
    assert first["results"]["tg"]["n_tokens"] >= 4 and first["results"]["tg"]["tok_s"] > 0
    assert first["results"]["pp"]["n_tokens"] > 40 and first["results"]["pp"]["tok_s"] > 0
    assert first["runtime"]["name"].startswith("llama.cpp-")
    assert streamed["results"]["tg"]["n_tokens"] >= 4  # the stream was recorded once it was exhausted

    # calibration leaves out models under 50M parameters (they time per-call overhead); the same records of
    # a model above the floor count, weighted below a bench run (short runs, a machine doing other work)
    assert samples_from_records(recs, fingerprint(this_machine())) == []
    facts = {k: v for k, v in shape_spec("llama-0.1b").to_dict().items() if k in first["model"]}
    big = [dict(r, model=dict(r["model"], **facts)) for r in recs]
    samples = samples_from_records(big, fingerprint(this_machine()))
    assert {s.test for s in samples} == {"pp", "tg"}
    assert all(0 < s.weight <= OBSERVED_WEIGHT for s in samples)
    tg = [s for s in samples if s.test == "tg"]
    assert tg[0].weight == pytest.approx(OBSERVED_WEIGHT * first["results"]["tg"]["n_tokens"] / 128)
    cal = fit_factors(samples, "fp")
    assert cal.factor("tg", tg[0].family) != 1.0

    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    res = CliRunner().invoke(cli, ["bench", "--history", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["source"] for r in rows] == ["observed", "observed"] and rows[0]["tg_tok_s"] > 0
    res = CliRunner().invoke(cli, ["bench", "--history"])
    assert res.exit_code == 0 and "observed" in res.output


@pytest.mark.slow
def test_record_opt_out(model, tmp_path):
    _run(model, tmp_path, LLMFIT_RECORD="0")
    assert store.read_records(tmp_path) == []


@pytest.mark.slow
def test_a_store_that_cannot_be_written_costs_one_warning(model, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    proc = _run(model, blocker)
    assert proc.stderr.count("could not record this generation's timings") == 1
    assert blocker.read_text() == "a file where the data dir should be"
