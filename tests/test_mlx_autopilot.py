"""mlx-lm under the load guard: real mlx-lm (CPU build here) loads a real tiny model directory in a subprocess;
auto mode bounds generation's KV cache to the context that fits; block mode stops a load that does not fit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mlx_lm")
ROOT = Path(__file__).resolve().parents[1]

MAKE_MODEL = """
import json, sys
from pathlib import Path
import mlx.core as mx
from mlx.utils import tree_flatten
from mlx_lm.models import llama
from tokenizers import Tokenizer, models, pre_tokenizers
d = Path(sys.argv[1]); d.mkdir(parents=True, exist_ok=True)
cfg = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128, "num_attention_heads": 4,
       "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "vocab_size": 64, "max_position_embeddings": 65536,
       "tie_word_embeddings": True, "torch_dtype": "float16", "architectures": ["LlamaForCausalLM"]}
model = llama.Model(llama.ModelArgs.from_dict(cfg))
model.set_dtype(mx.float16)
mx.save_safetensors(str(d / "model.safetensors"), dict(tree_flatten(model.parameters())), metadata={"format": "mlx"})
(d / "config.json").write_text(json.dumps(cfg))
vocab = {f"t{i}": i for i in range(63)}
vocab["<unk>"] = 63
tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
tok.save(str(d / "tokenizer.json"))
(d / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "<unk>",
                                                      "eos_token": "<unk>"}))
"""

LOAD = """
import json, sys
import llmfit_core.guard as guard
guard.install(mode=sys.argv[2], hardware=json.loads(sys.argv[3]))
import mlx_lm
gm = sys.modules["mlx_lm.generate"]  # generate_step's own name for the KV cache factory: a spy on the size it gets
sizes = []
make = gm.make_prompt_cache
gm.make_prompt_cache = lambda model, max_kv_size=None: sizes.append(max_kv_size) or make(model, max_kv_size=max_kv_size)
try:
    model, tok = mlx_lm.load(sys.argv[1])
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    sys.exit(0)
mlx_lm.generate(model, tok, "t1 t2 t3", max_tokens=3)
mlx_lm.generate(model, tok, "t1 t2 t3", max_tokens=3, max_kv_size=100)
print(json.dumps({"decision": guard.last_decision().to_dict(), "kv_sizes": sizes}))
"""


def _hw(total_gb):
    return {"name": "s", "cpu": {"model": "x", "cores": 2, "threads": 2}, "memory": {"total_gb": total_gb}}


def _py(code, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]))
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mlx") / "tiny-mlx"
    _py(MAKE_MODEL, d)
    return d


@pytest.mark.slow
def test_auto_bounds_the_kv_cache_to_the_context_that_fits(model_dir):
    proc = _py(LOAD, model_dir, "auto", json.dumps(_hw(0.5)))
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    d = out["decision"]
    assert d["runner"] == "mlx-lm" and d["fits"] and d["chosen"] == ["n_ctx"]
    assert 512 <= d["n_ctx"] < 65536 and d["n_ctx"] % 256 == 0
    assert out["kv_sizes"] == [d["n_ctx"], 100]  # the caller's own max_kv_size is kept
    assert f"n_ctx={d['n_ctx']} (chosen)" in proc.stderr


@pytest.mark.slow
def test_block_stops_an_mlx_load_that_does_not_fit(model_dir):
    out = json.loads(_py(LOAD, model_dir, "block", json.dumps(_hw(0.1))).stdout.strip().splitlines()[-1])
    assert out["error"] == "LoadBlockedError" and "free" in out["message"]


# -- timings learned from normal use: mlx-lm's own generation statistics -----------------------------------------

OBSERVE = """
import sys
import mlx.core as mx
from mlx_lm import stream_generate  # imported before the guard: the function object itself is diverted
import llmfit_core.guard as guard
guard.install(mode="warn")
import mlx_lm
model, tok = mlx_lm.load(sys.argv[1])
no_eos = lambda tokens, logits: logits - 1e9 * (mx.arange(logits.shape[-1]) == 63)  # "<unk>" is eos here
mlx_lm.generate(model, tok, "t1 t2 t3 t4 t5", max_tokens=8, logits_processors=[no_eos])
last = list(stream_generate(model, tok, "t1 t2", max_tokens=6, logits_processors=[no_eos]))[-1]
list(stream_generate(model, tok, "t1", max_tokens=2, logits_processors=[no_eos]))  # too short to say anything
print("stats", last.prompt_tps, last.generation_tps)
"""


def _observe(model_dir, data_dir, **env):
    full = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
                LLMFIT_DATA_DIR=str(data_dir), **env)
    if "LLMFIT_RECORD" not in env:
        full.pop("LLMFIT_RECORD", None)
    proc = subprocess.run([sys.executable, "-c", OBSERVE, str(model_dir)], capture_output=True, text=True,
                          timeout=300, env=full)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_mlx_generations_record_mlx_lms_own_statistics(model_dir, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from llmfit_core.bench import store
    from llmfit_core.bench.fingerprint import this_machine
    from llmfit_core.cli.main import cli
    from llmfit_core.hardware.fingerprint import fingerprint

    proc = _observe(model_dir, tmp_path)
    recs = store.read_records(tmp_path)
    assert [r["source"] for r in recs] == ["observed", "observed"], proc.stderr[-2000:]
    first, streamed = recs
    assert first["runtime"]["name"] == "mlx" and first["runtime"]["device"] == "cpu" and first["runtime"]["mlx_lm"]
    assert first["hardware_fingerprint"] == fingerprint(this_machine())
    assert first["model"]["arch"] == "llama" and first["model"]["n_layers"] == 2
    assert first["results"]["tg"]["n_tokens"] == 8 and first["results"]["pp"]["n_tokens"] == 5
    # the figures are mlx-lm's own (the last GenerationResponse), not re-timed
    _, prompt_tps, generation_tps = proc.stdout.split()
    assert streamed["results"]["pp"]["tok_s"] == pytest.approx(float(prompt_tps))
    assert streamed["results"]["tg"]["tok_s"] == pytest.approx(float(generation_tps))
    assert streamed["peak_mlx_memory_bytes"] > 0

    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    res = CliRunner().invoke(cli, ["bench", "--history", "--json"])
    assert res.exit_code == 0, res.output
    assert [(r["source"], r["backend"]) for r in json.loads(res.output)] == [("observed", "mlx")] * 2


@pytest.mark.slow
def test_mlx_recording_opt_out_and_a_broken_store(model_dir, tmp_path):
    _observe(model_dir, tmp_path, LLMFIT_RECORD="0")
    assert not list(tmp_path.iterdir())
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    proc = _observe(model_dir, blocker)
    assert proc.stderr.count("could not record this generation's timings") == 1
