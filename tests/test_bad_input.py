"""Bad input at every user-facing entry point: one clear stderr line, a non-zero exit, no traceback, bounded memory.

Entry points covered: `llmfit` subcommands (fit, check, system, hardware, bench, calibrate, data, catalog,
search, list, recommend, plan, plugins, hf, ollama, hooks), `hf fit` (llmfit_hf.extension), the
shims in hooks/, `python -m llmfit_core.guard` and the Python API `llmfit_core.fit`.

Hostile files run in a subprocess under a 3 GiB address-space limit (a reader that tries to allocate what
a header declares dies instead of passing); option checks run in-process through the real `main()`.
Documented exceptions to "exactly one line": plugin warnings (one line per failing plugin, command still
works), skipped catalog entries (warnings, exit 0), `catalog validate` (one line per bad entry), and the
fail-open warning of the download wrappers before the real command runs.
"""

from __future__ import annotations

import json
import os
import random
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from llmfit_core import shims
from llmfit_core.errors import HardwareProfileError, LlmfitError, ModelReadError, ResolveError, UnknownQuantizationError

AS_LIMIT = 3 << 30
TOKEN = "hf_wrong_secret_token_do_not_print_123"


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def _base_env(tmp: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMFIT_", "OLLAMA_", "HF_"))}
    env.update(LLMFIT_HOME=str(tmp / "home"), LLMFIT_DATA_DIR=str(tmp / "data"), LLMFIT_CACHE_DIR=str(tmp / "cache"),
               HF_HOME=str(tmp / "hf"), HF_HUB_OFFLINE="1", LLMFIT_OFFLINE="1", OLLAMA_MODELS=str(tmp / "ollama"),
               OLLAMA_HOST="http://127.0.0.1:9", LLMFIT_OLLAMA_REGISTRY="http://127.0.0.1:9")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(args, env, module="llmfit_core.cli.main", timeout=90):
    """Run an entry point as a subprocess with a memory limit; returns CompletedProcess + `.elapsed`."""
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env,
                       timeout=timeout, preexec_fn=_limit_memory, stdin=subprocess.DEVNULL)
    r.elapsed = time.monotonic() - t0
    return r


def lines_of(text: str) -> list[str]:
    return [x for x in text.splitlines() if x.strip()]


def assert_one_error(code: int, stderr: str, *needles: str, exit_code: int | None = 1):
    assert "Traceback" not in stderr, stderr
    lines = lines_of(stderr)
    assert len(lines) == 1, stderr
    assert exit_code is None and code != 0 or code == exit_code, (code, stderr)
    assert "error" in lines[0].lower(), lines[0]
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])
    return lines[0]


# ---- hostile and broken model files ----------------------------------------------------------------------


def _gguf_head(n_tensors: int, n_kv: int, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def _kv_str(key: bytes, val: bytes) -> bytes:
    return struct.pack("<Q", len(key)) + key + struct.pack("<I", 8) + struct.pack("<Q", len(val)) + val


def _st(header, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    from llmfit_core.synth import write_synthetic_gguf

    d = tmp_path_factory.mktemp("bad")
    write_synthetic_gguf(d / "good.gguf", "llama-tiny", "F16")
    (d / "empty.gguf").write_bytes(b"")
    rnd = random.Random(7)
    (d / "random.gguf").write_bytes(bytes(rnd.randrange(256) for _ in range(4096)))
    (d / "emptydir").mkdir()
    arch = _kv_str(b"general.architecture", b"llama")
    tensor = lambda n_dims, dims, ggml_type: (struct.pack("<Q", 5) + b"w.bin" + struct.pack("<I", n_dims)  # noqa: E731
                                              + b"".join(struct.pack("<Q", x) for x in dims)
                                              + struct.pack("<I", ggml_type) + struct.pack("<Q", 0))
    files = {
        "tensor_count.gguf": _gguf_head(1 << 62, 0),
        "kv_count.gguf": _gguf_head(0, 1 << 62),
        "key_length.gguf": _gguf_head(0, 1) + struct.pack("<Q", 1 << 60) + b"abc",
        "string_length.gguf": _gguf_head(0, 1) + struct.pack("<Q", 3) + b"abc" + struct.pack("<IQ", 8, 1 << 40) + b"x",
        "array_count.gguf": _gguf_head(0, 1) + struct.pack("<Q", 3) + b"abc" + struct.pack("<IIQ", 9, 8, 1 << 40),
        "value_type.gguf": _gguf_head(0, 1) + struct.pack("<Q", 3) + b"abc" + struct.pack("<I", 77) + b"\0" * 64,
        "n_dims.gguf": _gguf_head(1, 1) + arch + struct.pack("<Q", 5) + b"w.bin" + struct.pack("<I", 1 << 31),
        "ggml_type.gguf": _gguf_head(1, 1) + arch + tensor(1, [32], 999) + b"\0" * 64,
        "version.gguf": _gguf_head(0, 0, version=99),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    good = (d / "good.gguf").read_bytes()
    for off in (3, 20, 1000):
        (d / f"trunc{off}.gguf").write_bytes(good[:off])
    (d / "trunc_half.gguf").write_bytes(good[:len(good) // 2])
    st = {
        "st_huge": struct.pack("<Q", 1 << 62) + b"{}",
        "st_not_json": _st(b"nojson"),
        "st_dtype": _st({"w": {"dtype": "Q9", "shape": [2, 2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "st_beyond": _st({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}, b"\0" * 16),
        "st_size_mismatch": _st({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 10 ** 12]}}, b"\0" * 16),
    }
    for name, data in st.items():
        (d / name).mkdir()
        (d / name / "model.safetensors").write_bytes(data)
    llama = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256, "num_hidden_layers": 4,
             "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 1000}
    for name, text in (("cfg_not_json", "{not json"), ("cfg_list", "[1, 2]"),
                       ("cfg_unknown", json.dumps({"architectures": ["FooForCausalLM"], "model_type": "foo"})),
                       ("cfg_layers", json.dumps(dict(llama, num_hidden_layers=10 ** 12))),
                       ("cfg_hidden_str", json.dumps(dict(llama, hidden_size="256")))):
        (d / name).mkdir()
        (d / name / "config.json").write_text(text)
    # recurrent models with absurd SSM sizes: a clear error, never an absurd (or overflowing) state estimate
    import gguf

    from llmfit_core.synth import finish_sparse_gguf

    w = gguf.GGUFWriter(str(d / "ssm_huge.gguf"), "mamba2")
    w.add_block_count(4)
    w.add_embedding_length(256)
    w.add_ssm_conv_kernel(4)
    w.add_ssm_inner_size(0xFFFFFFFF)
    w.add_ssm_state_size(1 << 20)
    w.add_ssm_group_count(1)
    finish_sparse_gguf(w, d / "ssm_huge.gguf", [("token_embd.weight", (256, 512), "F16")])
    (d / "cfg_ssm").mkdir()
    (d / "cfg_ssm" / "config.json").write_text(json.dumps({
        "model_type": "mamba2", "hidden_size": 4096, "num_hidden_layers": 64, "vocab_size": 32768,
        "state_size": 10 ** 11, "conv_kernel": 4, "expand": 2, "n_groups": 8}))
    hw = {
        "hw_not_json.json": "{",
        "hw_list.json": "[]",
        "hw_types.json": json.dumps({"name": "x", "cpu": {"cores": 4}, "memory": {"total_gb": "lots"}, "gpus": []}),
        "hw_negative_vram.json": json.dumps({"name": "x", "cpu": {"cores": 4}, "memory": {"total_gb": 16},
                                             "gpus": [{"vendor": "nvidia", "name": "x", "vram_gb": -8}]}),
        "hw_tiny.json": json.dumps({"name": "tiny-box", "cpu": {"model": "t", "cores": 1, "threads": 1,
                                                                "mem_bandwidth_gbs": 5},
                                    "memory": {"total_gb": 0.03, "available_gb": 0.02}, "gpus": []}),
    }
    for name, text in hw.items():
        (d / name).write_text(text)
    (d / "cat_entries.json").write_text(json.dumps([{"id": "x/broken-1", "params": "lots"}, {"nope": 1}, 5]))
    (d / "cat_not_json.json").write_text("{[")
    (d / "export.jsonl").write_text("not json\n")
    (d / "script.py").write_text("print('hi')\n")
    os.mkfifo(d / "fifo.gguf")
    return d


# (case id, args relative to the bad dir, substrings the one error line must contain)
FILE_CASES = [
    ("missing file", ["fit", "{d}/nope.gguf"], ["no such file"]),
    ("dir without a model", ["fit", "{d}/emptydir"], ["no model"]),
    ("empty file", ["fit", "{d}/empty.gguf"], ["not a GGUF"]),
    ("random bytes .gguf", ["fit", "{d}/random.gguf"], ["not a GGUF"]),
    ("absurd tensor count", ["fit", "{d}/tensor_count.gguf"], ["tensors", "limit"]),
    ("absurd kv count", ["fit", "{d}/kv_count.gguf"], ["metadata entries", "limit"]),
    ("absurd key length", ["fit", "{d}/key_length.gguf"], ["key_length.gguf"]),
    ("absurd string length", ["fit", "{d}/string_length.gguf"], ["string_length.gguf"]),
    ("absurd array count", ["fit", "{d}/array_count.gguf"], ["array items"]),
    ("unknown value type", ["fit", "{d}/value_type.gguf"], ["value type 77"]),
    ("absurd n_dims", ["fit", "{d}/n_dims.gguf"], ["dimensions"]),
    ("unknown ggml type", ["fit", "{d}/ggml_type.gguf"], ["ggml type 999"]),
    ("unknown GGUF version", ["fit", "{d}/version.gguf"], ["version 99"]),
    ("truncated in magic", ["fit", "{d}/trunc3.gguf"], ["too short"]),
    ("truncated in counts", ["fit", "{d}/trunc20.gguf"], ["truncated"]),
    ("truncated in metadata", ["fit", "{d}/trunc1000.gguf"], ["truncated"]),
    ("truncated tensor data", ["check", "{d}/trunc_half.gguf"], ["truncated", "tensor data"]),
    ("safetensors huge header length", ["fit", "{d}/st_huge"], ["header declares", "limit"]),
    ("safetensors header not JSON", ["fit", "{d}/st_not_json"], ["not JSON"]),
    ("safetensors unknown dtype", ["fit", "{d}/st_dtype"], ["unknown dtype", "Q9"]),
    ("safetensors offsets beyond file", ["fit", "{d}/st_beyond"], ["truncated"]),
    ("safetensors size mismatch", ["fit", "{d}/st_size_mismatch"], ["needs 16"]),
    ("config.json not JSON", ["fit", "{d}/cfg_not_json"], ["invalid JSON"]),
    ("config.json not an object", ["fit", "{d}/cfg_list"], ["not a JSON object"]),
    ("config.json unknown arch, no sizes", ["fit", "{d}/cfg_unknown"], ["foo", "hidden size"]),
    ("config.json 1e12 layers", ["fit", "{d}/cfg_layers"], ["1000000000000 layers", "limits"]),
    ("config.json string hidden size", ["fit", "{d}/cfg_hidden_str"], ["hidden_size='256'"]),
    ("absurd SSM sizes in a GGUF", ["fit", "{d}/ssm_huge.gguf"], ["inner_size", "limit"]),
    ("config.json absurd mamba2 state size", ["fit", "{d}/cfg_ssm"], ["state_size", "limit"]),
    ("bench on random bytes", ["bench", "{d}/random.gguf", "--no-record"], ["not a GGUF"]),
    ("catalog add of a truncated GGUF", ["catalog", "add", "{d}/trunc1000.gguf"], ["truncated"]),
    ("plan with a hostile GGUF", ["plan", "{d}/tensor_count.gguf"], ["tensors"]),
    ("a device instead of a model", ["fit", "/dev/null"], ["not a regular file"]),
    ("endless batch file", ["fit", "--batch", "/dev/zero"], ["longer than 1 MiB"]),
    ("endless bench export", ["data", "import", "/dev/zero"], ["larger than 64 MiB"]),
    ("a FIFO named .gguf", ["fit", "{d}/fifo.gguf"], ["not a regular file"]),
    ("catalog add of a FIFO (would block)", ["catalog", "add", "{d}/fifo.gguf"], ["not a regular file"]),
    ("catalog add of an endless device", ["catalog", "add", "/dev/zero"], ["not a regular file"]),
    ("catalog add of a 1e12-layer config", ["catalog", "add", "{d}/cfg_layers"], ["layers", "limits"]),
]


def test_catalog_add_into_an_unwritable_data_dir(bad, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run(["catalog", "add", str(bad / "good.gguf")], _base_env(tmp_path, LLMFIT_DATA_DIR=blocker / "x",
                                                                  LLMFIT_HOME=blocker / "x"))
    line = assert_one_error(r.returncode, r.stderr, "cannot write the user catalog", str(blocker))
    assert "internal error" not in line


@pytest.mark.parametrize("args,needles", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_hostile_and_broken_model_files(bad, tmp_path, args, needles):
    r = run([a.format(d=bad) for a in args], _base_env(tmp_path))
    assert_one_error(r.returncode, r.stderr, *needles)


def test_truncated_gguf_at_every_header_offset_is_a_model_read_error(bad, tmp_path):
    from llmfit_core.readers.gguf import read_gguf

    good = (bad / "good.gguf").read_bytes()
    spec = read_gguf(bad / "good.gguf")  # the untruncated file reads
    assert spec.n_layers and spec.weight_bytes
    offsets = sorted(set(range(0, 64)) | set(range(64, 6000, 37)) | {len(good) - 1, len(good) - 4096})
    p = tmp_path / "t.gguf"
    for off in offsets:
        p.write_bytes(good[:off])
        with pytest.raises(ModelReadError) as exc:
            read_gguf(p)
        assert "t.gguf" in str(exc.value) and "\n" not in str(exc.value), off


# ---- options, profiles, constraints: in-process through the real main() -------------------------------------


def _main(args, capsys, module_main=None):
    from llmfit_core.cli.main import main

    with pytest.raises(SystemExit) as exc:
        (module_main or main)(list(args))
    out = capsys.readouterr()
    code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
    return code, out.out, out.err


OPTION_CASES = [
    ("unknown quant", ["fit", "{d}/good.gguf", "--quant", "Q9_X"], 1, ["Q9_X"]),
    ("negative context", ["fit", "{d}/good.gguf", "--context", "-1"], 1, ["positive"]),
    ("non-numeric context", ["fit", "{d}/good.gguf", "--context", "abc"], 1, ["abc"]),
    ("absurd context", ["fit", "{d}/good.gguf", "--context", "99999999999999"], 1, ["context"]),
    ("bad backend", ["fit", "{d}/good.gguf", "--backend", "foo"], 1, ["backend 'foo'"]),
    ("bad cache type", ["fit", "{d}/good.gguf", "--cache-type", "q9"], 1, ["cache type 'q9'"]),
    ("bad prompt tokens", ["fit", "{d}/good.gguf", "--prompt-tokens", "-5"], 1, ["positive"]),
    ("zero parallel", ["fit", "{d}/good.gguf", "--parallel", "0"], 1, ["parallel"]),
    ("negative gpu layers", ["fit", "{d}/good.gguf", "--gpu-layers", "-3"], 1, ["gpu_layers"]),
    ("non-integer option", ["fit", "{d}/good.gguf", "--gpu-layers", "abc"], 2, ["--gpu-layers", "llmfit fit --help"]),
    ("unknown option", ["fit", "{d}/good.gguf", "--nosuch"], 2, ["--nosuch"]),
    ("unknown command", ["nosuchcommand"], 2, ["nosuchcommand"]),
    ("no model reference", ["fit"], 1, ["missing model reference"]),
    ("hardware file missing", ["fit", "{d}/good.gguf", "--hardware", "{d}/nope.json"], 1, ["no such hardware"]),
    ("hardware not JSON", ["fit", "{d}/good.gguf", "--hardware", "{d}/hw_not_json.json"], 1, ["invalid JSON"]),
    ("hardware not an object", ["check", "{d}/good.gguf", "--hardware", "{d}/hw_list.json"], 1, ["JSON object"]),
    ("hardware wrong types", ["fit", "{d}/good.gguf", "--hardware", "{d}/hw_types.json"], 1, ["total_gb"]),
    ("hardware negative VRAM", ["fit", "{d}/good.gguf", "--hardware", "{d}/hw_negative_vram.json"], 1, ["vram_gb"]),
    ("unknown hardware name", ["fit", "{d}/good.gguf", "--hardware", "no-such-device-xyz"], 1, ["no-such-device"]),
    ("system with a bad profile", ["system", "--hardware", "{d}/hw_not_json.json"], 1, ["invalid JSON"]),
    ("hardware validate", ["hardware", "validate", "{d}/hw_negative_vram.json"], 1, ["vram_gb"]),
    ("hardware show unknown", ["hardware", "show", "no-such-device-xyz"], 1, ["no-such-device"]),
    ("batch file missing", ["fit", "--batch", "{d}/nope.jsonl"], 1, ["nope.jsonl"]),
    ("constraint gibberish", ["recommend", "gimme fast stuff please"], 1, ["cannot understand", "gimme"]),
    ("constraint bad number", ["recommend", "--min-tps", "abc"], 1, ["--min-tps", "abc"]),
    ("constraint bad size", ["recommend", "--max-memory", "-5GB"], 1, ["-5GB"]),
    ("contradictory constraints", ["recommend", "--min-params", "70B", "--max-params", "1B"], 1, ["contradictory"]),
    ("constraint excludes all", ["recommend", "--min-tps", "100000"], 1, ["min 100000 tok/s", "excludes"]),
    ("tiny memory excludes all", ["recommend", "--max-memory", "1MB"], 1, ["'max memory 1 MiB'", "needs"]),
    ("licence excludes all", ["recommend", "--license", "nosuch-licence"], 1, ["nosuch-licence"]),
    ("unknown use", ["recommend", "--use", "bogus-use"], 1, ["bogus-use"]),
    ("bad --top", ["recommend", "--top", "0"], 1, ["--top"]),
    ("unknown catalog model", ["catalog", "show", "no-such-model-xyz"], 1, ["not in the catalog"]),
    ("catalog file missing", ["catalog", "validate", "{d}/nope.json"], 1, ["cannot read"]),
    ("catalog file not JSON", ["catalog", "validate", "{d}/cat_not_json.json"], 1, ["invalid JSON"]),
    ("catalog file is a device", ["catalog", "validate", "/dev/zero"], 1, ["not a regular file"]),
    ("plan unknown model", ["plan", "no-such-model-xyz"], 1, ["unknown model"]),
    ("model name typo", ["check", "qwen3-coder-30b"], 1, ["unknown model", "closest", "Qwen/Qwen3-Coder-30B-A3B-Instruct"]),
    ("org/name typo offline", ["check", "meta-llama/Llama-3.1-8B-Instruc", "--offline"], 1,
     ["nor in the shipped catalog", "closest", "meta-llama/Llama-3.1-8B-Instruct"]),
    ("plan bad target", ["plan", "llama-3.1-8b", "--target-tps", "abc"], 2, ["--target-tps"]),
    ("bench unknown synthetic shape", ["bench", "--synthetic", "nosuch:Q4_K_M", "--no-record"], 1, ["nosuch"]),
    ("bench unknown quant", ["bench", "--synthetic", "llama-tiny:Q9_X", "--no-record"], 1, ["Q9_X"]),
    ("data import not JSON", ["data", "import", "{d}/export.jsonl"], 1, ["not a JSON"]),
    ("data import missing", ["data", "import", "{d}/nope.jsonl"], 1, ["no such file"]),
    ("hooks install into a file", ["hooks", "install", "--dir", "{d}/empty.gguf"], 2, ["is a file"]),
    ("ollama path traversal", ["fit", "ollama:../../etc/passwd"], 1, ["invalid Ollama model name"]),
    ("ollama tag traversal", ["ollama", "pull", "tiny:../../x"], 1, ["invalid Ollama model name"]),
    ("hf download without a repo", ["hf", "download"], 2, ["missing REPO_ID"]),
    ("hf download option without value", ["hf", "download", "org/name", "--revision"], 2, ["--revision needs a value"]),
    ("hf file traversal", ["hf", "download", "org/name", "../../etc/passwd"], 2, ["invalid file name"]),
    # a command typo names the closest commands, also those not imported yet (lazy) and the plugins' groups
    ("command typo", ["recomend"], 2, ["No such command 'recomend'", "Did you mean 'recommend'?"]),
    ("plugin group typo", ["hff", "ls"], 2, ["Did you mean 'hf'?"]),
    ("command not close to any", ["zzz"], 2, ["Commands: ", "fit", "recommend", "hf"]),
    ("subcommand typo", ["hardware", "shw"], 2, ["Did you mean 'show'?"]),
]


@pytest.mark.parametrize("args,code,needles", [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_bad_options_profiles_and_constraints(bad, tmp_path, monkeypatch, capsys, args, code, needles):
    for k, v in _base_env(tmp_path).items():
        if k.startswith(("LLMFIT_", "HF_", "OLLAMA_")):
            monkeypatch.setenv(k, v)
    rc, out, err = _main([a.format(d=bad) for a in args], capsys)
    assert_one_error(rc, err, *needles, exit_code=code)


def test_check_exits_3_only_for_does_not_fit(bad, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LLMFIT_OFFLINE", "1")
    rc, out, err = _main(["check", str(bad / "good.gguf"), "--hardware", str(bad / "hw_tiny.json")], capsys)
    assert rc == 3 and "no-fit" in out and err == ""
    rc, out, err = _main(["check", str(bad / "good.gguf")], capsys)  # fits here
    assert rc == 0 and err == ""
    r = run(["check", str(bad / "random.gguf"), "--hardware", str(bad / "hw_tiny.json")], _base_env(tmp_path))
    assert_one_error(r.returncode, r.stderr, "not a GGUF")  # an unreadable model is an error (1), never "no fit"


def test_batch_reports_each_bad_line_in_order(bad, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LLMFIT_OFFLINE", "1")
    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join([json.dumps({"ref": str(bad / "good.gguf"), "context": -1}), "[1]", "not json",
                                json.dumps({"ref": str(bad / "random.gguf")}),
                                json.dumps({"ref": str(bad / "good.gguf")})]))
    rc, out, err = _main(["fit", "--batch", str(batch)], capsys)
    rows = [json.loads(x) for x in out.splitlines()]
    assert rc == 0 and err == "" and len(rows) == 5  # documented: one output line per query, errors as objects
    assert [("error" in r) for r in rows] == [True, True, True, True, False]
    assert "positive" in rows[0]["error"]["message"] and "not a GGUF" in rows[3]["error"]["message"]
    assert rows[4]["verdict"] in ("runs", "tight", "offload")


def test_endless_or_blocking_hardware_profile_is_refused_without_reading_it(bad, tmp_path):
    for path in ("/dev/zero", str(bad / "fifo.gguf")):  # was: read until MemoryError / blocked forever
        r = run(["hardware", "validate", path], _base_env(tmp_path), timeout=60)
        assert_one_error(r.returncode, r.stderr, path, "not a regular file")


def test_absurd_vram_is_a_profile_error_not_an_internal_error(bad, tmp_path, capsys, monkeypatch):
    p = tmp_path / "hw.json"
    p.write_text(json.dumps({"name": "x", "cpu": {"cores": 4}, "memory": {"total_gb": 16},
                             "gpus": [{"vendor": "nvidia", "name": "x", "vram_gb": 1e300}]}))
    rc, out, err = _main(["fit", str(bad / "good.gguf"), "--hardware", str(p)], capsys)
    line = assert_one_error(rc, err, "vram_gb")
    assert "internal error" not in line


def test_hf_fit_extension_bad_commands(capsys):
    from llmfit_hf.extension import main

    for args, needle in (([], "missing command"), (["frob"], "unknown command 'frob'")):
        code, _, err = _main(args, capsys, module_main=main)
        assert_one_error(code, err, needle, exit_code=2)


def test_python_api_raises_named_errors(bad):
    import llmfit_core

    with pytest.raises(ModelReadError, match="not a GGUF"):
        llmfit_core.fit(str(bad / "random.gguf"))
    with pytest.raises(UnknownQuantizationError):
        llmfit_core.fit(str(bad / "good.gguf"), quant="Q9_X")
    with pytest.raises(HardwareProfileError, match="vram_gb"):
        llmfit_core.fit(str(bad / "good.gguf"), hardware=str(bad / "hw_negative_vram.json"))
    with pytest.raises(ResolveError):
        llmfit_core.fit("no-such-model-xyz-123", offline=True)
    with pytest.raises(LlmfitError, match="positive"):
        llmfit_core.fit(str(bad / "good.gguf"), context=-1)


def test_guard_entry_point_bad_input(bad, tmp_path):
    env = _base_env(tmp_path)
    for args, needle in ((["/nonexistent/script.py"], "no such script"), (["-m", "no_such_module_xyz"], "no module"),
                         (["--mode", "x"], "unknown option")):
        r = run(args, env, module="llmfit_core.guard")
        assert_one_error(r.returncode, r.stderr, needle, exit_code=2)
    r = run([str(bad / "script.py")], dict(env, LLMFIT_GUARD="bogus"), module="llmfit_core.guard")
    assert r.returncode == 0 and r.stdout == "hi\n"  # a bad mode is said in one warning; the script still runs
    assert lines_of(r.stderr) == ["llmfit: warning: LLMFIT_GUARD='bogus' is not warn|block|auto; using warn"]


# ---- servers: Hub (404, 401, stall, refused) and Ollama ------------------------------------------------------


@pytest.fixture
def stalled_port():
    """A socket that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held, stop = [], threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    srv.close()


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _hub_env(hf_env, tmp_path, **extra):
    env = _base_env(tmp_path)
    env.update({k: v for k, v in hf_env["env"].items() if k.startswith(("HF_", "NO_PROXY", "no_proxy"))})
    for k in ("HF_HUB_OFFLINE", "LLMFIT_OFFLINE", "HF_TOKEN"):
        env.pop(k, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def test_hub_unknown_repo_gated_repo_and_bad_file(hf_env, tmp_path):
    env = _hub_env(hf_env, tmp_path)
    r = run(["fit", "fake-org/NoSuchRepo"], env)
    assert_one_error(r.returncode, r.stderr, "fake-org/NoSuchRepo", "not found")
    r = run(["hf", "ls", "fake-org/NoSuchRepo"], env)
    assert_one_error(r.returncode, r.stderr, "not found")
    r = run(["fit", "fake-org/Gated-GGUF"], dict(env, HF_TOKEN=TOKEN))
    line = assert_one_error(r.returncode, r.stderr, "401", "hf auth login")
    assert TOKEN not in r.stderr + r.stdout and TOKEN[:8] not in line
    r = run(["fit", "fake-org/Tiny-GGUF", "--quant", "Q9_X"], env)
    assert_one_error(r.returncode, r.stderr, "no Q9_X file", "Q4_K_M")


def test_hub_that_never_answers_times_out(hf_env, tmp_path, stalled_port):
    env = _hub_env(hf_env, tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{stalled_port}", LLMFIT_HTTP_TIMEOUT=2)
    for args in (["fit", "fake-org/Tiny-GGUF"], ["hf", "search", "llama"]):
        r = run(args, env, timeout=60)
        assert_one_error(r.returncode, r.stderr, "timed out")
        assert r.elapsed < 30, r.elapsed  # bounded by LLMFIT_HTTP_TIMEOUT (plus retries), not forever


def test_download_wrapper_fails_open_when_the_hub_never_answers(hf_env, tmp_path, stalled_port, wrap):
    env = _hub_env(hf_env, tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{stalled_port}", LLMFIT_HTTP_TIMEOUT=2,
                   PATH=f"{wrap['real']}:/usr/bin:/bin", FAKE_ARGS_OUT=wrap["args"], FAKE_EXIT=4)
    t0 = time.monotonic()
    r = _run_wrapped(wrap, [sys.executable, "-m", "llmfit_core.cli.main", "hf", "download", "fake-org/Tiny-GGUF"], env)
    assert time.monotonic() - t0 < 30  # was: hung forever (snapshot dry run's repo_info has no timeout)
    assert r.returncode == 4 and _recorded(wrap) == ["download", "fake-org/Tiny-GGUF"]
    (line,) = lines_of(r.stderr)
    assert line.startswith("llmfit: warning:") and "timed out" in line


def test_hostile_gguf_header_on_the_hub_reads_only_a_little(fake_hub, hf_env, tmp_path):
    from fakehub import FakeFile

    head = _gguf_head(1 << 62, 1) + _kv_str(b"general.architecture", b"llama")
    fake_hub.add_repo("evil-org/Count-GGUF", [FakeFile("m-Q4_K_M.gguf", 10 << 30, head)])
    fake_hub.reset_counts()
    r = run(["fit", "evil-org/Count-GGUF"], _hub_env(hf_env, tmp_path))
    assert_one_error(r.returncode, r.stderr, "tensors", "limit")
    assert fake_hub.served("evil-org/Count-GGUF") <= 1 << 20


def test_catalog_add_from_the_hub_is_bounded(fake_hub, hf_env, tmp_path, stalled_port):
    from fakehub import FakeFile

    fake_hub.add_repo("evil-org/BigConfig", [FakeFile("config.json", 3 << 30, b'{"model_type": "llama", "x": "',
                                                       lfs=False)])
    fake_hub.reset_counts()
    r = run(["catalog", "add", "evil-org/BigConfig"], _hub_env(hf_env, tmp_path))
    assert_one_error(r.returncode, r.stderr, "config.json is 3221225472 bytes", "16 MiB")
    assert fake_hub.served("evil-org/BigConfig") < 1 << 20  # was: the whole 3 GB, then read into memory
    env = _hub_env(hf_env, tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{stalled_port}", LLMFIT_HTTP_TIMEOUT=2)
    r = run(["catalog", "add", "fake-org/Tiny-llama"], env, timeout=60)
    assert_one_error(r.returncode, r.stderr, "did not answer in time")
    assert r.elapsed < 30  # was: hung forever


def test_hub_connection_refused(hf_env, tmp_path):
    env = _hub_env(hf_env, tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{_free_port()}")
    r = run(["fit", "fake-org/Tiny-GGUF"], env)
    assert_one_error(r.returncode, r.stderr, "cannot reach the Hugging Face Hub")


@pytest.fixture(scope="module")
def ollama_fake():
    from fakeollama import FakeOllama, make_model

    with FakeOllama() as f:
        f.add(make_model("tiny", "latest", "tiny"))
        f.add(make_model("broken", "latest", "tiny"))
        f.truncate_manifest.add("broken:latest")
        yield f


def _ollama_env(fake, tmp_path, **extra):
    (tmp_path / "ollama").mkdir(exist_ok=True)
    env = _base_env(tmp_path, OLLAMA_HOST=fake.url, LLMFIT_OLLAMA_REGISTRY=fake.url, **extra)
    env.pop("LLMFIT_OFFLINE")
    return env


def test_ollama_unknown_model_truncated_manifest_traversal_dead_server(ollama_fake, tmp_path):
    env = _ollama_env(ollama_fake, tmp_path)
    r = run(["fit", "ollama:nosuchmodel"], env)
    assert_one_error(r.returncode, r.stderr, "nosuchmodel", "not found")
    r = run(["fit", "ollama:broken"], env)
    assert_one_error(r.returncode, r.stderr, "truncated")
    r = run(["fit", "ollama:tiny:latest/../../../etc"], env)
    assert_one_error(r.returncode, r.stderr, "invalid Ollama model name")
    dead = f"http://127.0.0.1:{_free_port()}"
    r = run(["fit", "ollama:tiny"], dict(env, OLLAMA_HOST=dead, LLMFIT_OLLAMA_REGISTRY=dead))
    assert_one_error(r.returncode, r.stderr, "cannot reach the Ollama registry")


# ---- documented warnings: malformed private catalogs, crashing plugins, no NVIDIA driver --------------------


def test_malformed_private_catalog_is_skipped_with_warnings(bad, tmp_path):
    paths = os.pathsep.join([str(bad / "cat_entries.json"), str(bad / "cat_not_json.json"), "/dev/zero",
                             str(bad / "fifo.gguf")])
    r = run(["search", "llama"], _base_env(tmp_path, LLMFIT_CATALOG_PATH=paths))
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "llama" in r.stdout.lower()  # the shipped catalog still answers
    warn = lines_of(r.stderr)
    assert len(warn) == 6 and all(w.startswith("llmfit: warning: skipped catalog entry:") for w in warn), warn
    assert sum("cat_entries.json: entry" in w for w in warn) == 3 and "x/broken-1" in warn[0]
    assert "cat_not_json.json" in warn[3] and "invalid JSON" in warn[3]
    assert "/dev/zero: not a regular file" in warn[4] and "fifo.gguf: not a regular file" in warn[5]


PLUGIN = '''
import os
from llmfit_core.hookspecs import hookimpl
WHERE = os.environ.get("EVIL_HOOK", "")
def _boom(h):
    if h == WHERE:
        raise RuntimeError("evil " + h + " exploded")
@hookimpl
def llmfit_resolve_model(ref, options):
    _boom("resolve")
@hookimpl
def llmfit_list_models(query, options):
    _boom("list")
    return []
@hookimpl
def llmfit_detect_hardware(profile):
    _boom("detect")
@hookimpl
def llmfit_register_commands(cli):
    _boom("commands")
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    for name, code in (("evilplug", PLUGIN), ("importfail", "raise ImportError('importfail is broken')\n")):
        (site / f"{name}.py").write_text(code)
        info = site / f"{name}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[llmfit]\n{name} = {name}\n")
    return site


@pytest.mark.parametrize("hook,args,plugin,needle", [
    ("resolve", ["fit", "llama-3.1-8b"], "evilplug", "llmfit_resolve_model"),
    ("detect", ["system"], "evilplug", "llmfit_detect_hardware"),
    ("commands", ["--help"], "evilplug", "llmfit_register_commands"),  # asked only when listing or unknown
    ("", ["fit", "llama-3.1-8b"], "importfail", "failed to load"),
])
def test_a_crashing_third_party_plugin_is_one_warning(plugin_site, tmp_path, hook, args, plugin, needle):
    env = _base_env(tmp_path, PYTHONPATH=plugin_site, EVIL_HOOK=hook,
                    LLMFIT_DISABLE_PLUGINS="importfail" if plugin == "evilplug" else "evilplug")
    r = run(args, env)
    assert r.returncode == 0 and r.stdout.strip() and "Traceback" not in r.stderr, r.stderr
    (line,) = lines_of(r.stderr)
    assert line.startswith(f"llmfit: warning: plugin '{plugin}'") and needle in line


def test_plugin_raising_in_list_models_is_skipped(plugin_site, tmp_path):
    code = ("from llmfit_core.plugins import call_hook; "
            "print(call_hook('llmfit_list_models', query='q', options={}))")
    env = _base_env(tmp_path, PYTHONPATH=plugin_site, EVIL_HOOK="list", LLMFIT_PLUGINS="evilplug")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    (line,) = lines_of(r.stderr)
    assert "'evilplug'" in line and "llmfit_list_models" in line and "evil list exploded" in line


def test_system_without_nvidia_driver_says_cpu_only(tmp_path):
    pynvml = pytest.importorskip("pynvml")  # nvidia-ml-py installed ...
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass  # ... but no driver: the case on this machine
    else:
        pynvml.nvmlShutdown()
        pytest.skip("an NVIDIA driver is present here")
    r = run(["system"], _base_env(tmp_path))
    assert r.returncode == 0 and r.stderr == "" and "CPU-only" in r.stdout
    r = run(["system", "--json"], _base_env(tmp_path))
    assert r.returncode == 0 and json.loads(r.stdout)["gpus"] == []


# ---- wrappers and shims fail open: identical argv and exit code; strict stops -------------------------------

FAKE_REAL = """#!/bin/sh
: > "$FAKE_ARGS_OUT"
for a in "$@"; do printf '%s\\0' "$a" >> "$FAKE_ARGS_OUT"; done
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def wrap(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    for tool in shims.shim_tools():
        (real / tool).write_text(FAKE_REAL)
        (real / tool).chmod(0o755)
    shim_dir = tmp_path / "shims"
    shims.install(shim_dir, python=sys.executable)
    return {"real": real, "shims": shim_dir, "args": tmp_path / "args.bin"}


def _recorded(wrap):
    p = wrap["args"]
    return None if not p.exists() else [a.decode() for a in p.read_bytes().split(b"\0")[:-1]]


def _run_wrapped(wrap, argv, env):
    if wrap["args"].exists():
        wrap["args"].unlink()
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=90, stdin=subprocess.DEVNULL,
                          preexec_fn=_limit_memory)


SHIM_CASES = [  # tool, argv after the tool; each is a download the shim checks
    ("hf", ["download", "fake-org/Tiny-GGUF", "tiny-Q8_0.gguf", "--local-dir", "a dir"]),
    ("huggingface-cli", ["download", "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf"]),
    ("llama-cli", ["-hf", "fake-org/Tiny-GGUF:Q8_0", "-p", "two words"]),
    ("ollama", ["pull", "tiny"]),
]


@pytest.mark.parametrize("tool,args", SHIM_CASES, ids=[c[0] for c in SHIM_CASES])
def test_shims_fail_open_on_predictor_failure_and_stop_when_strict(wrap, hf_env, ollama_fake, tmp_path, tool, args):
    env = _hub_env(hf_env, tmp_path, PATH=f"{wrap['shims']}:{wrap['real']}:/usr/bin:/bin",
                   FAKE_ARGS_OUT=wrap["args"], FAKE_EXIT=7, LLMFIT_HARDWARE="/nonexistent/hw.json",
                   OLLAMA_HOST=ollama_fake.url, LLMFIT_OLLAMA_REGISTRY=ollama_fake.url)
    r = _run_wrapped(wrap, [tool, *args], env)
    assert r.returncode == 7 and _recorded(wrap) == args  # the real program ran, argv and exit code untouched
    (line,) = lines_of(r.stderr)
    assert line.startswith("llmfit: warning:") and "/nonexistent/hw.json" in line and f"running {tool} anyway" in line
    r = _run_wrapped(wrap, [tool, *args], dict(env, LLMFIT_STRICT="1"))
    assert r.returncode == 1 and _recorded(wrap) is None  # strict: not run
    assert_one_error(r.returncode, r.stderr, "/nonexistent/hw.json")


WRAPPER_CASES = [  # entry module, argv, what the real program must receive
    ("llmfit_core.cli.main", ["hf", "download", "fake-org/Tiny-GGUF", "tiny-Q8_0.gguf", "--hardware", "{hw}"],
     ["download", "fake-org/Tiny-GGUF", "tiny-Q8_0.gguf"]),
    ("llmfit_hf.extension", ["download", "fake-org/Tiny-GGUF", "--include", "*Q8_0*", "--hardware", "{hw}"],
     ["download", "fake-org/Tiny-GGUF", "--include", "*Q8_0*"]),
    ("llmfit_core.cli.main", ["ollama", "pull", "tiny", "--hardware", "{hw}"], ["pull", "tiny"]),
]


@pytest.mark.parametrize("module,args,expect", WRAPPER_CASES, ids=["llmfit hf download", "hf fit download",
                                                                     "llmfit ollama pull"])
def test_wrappers_fail_open_on_predictor_failure_and_stop_when_strict(wrap, hf_env, ollama_fake, tmp_path, module,
                                                                      args, expect):
    env = _hub_env(hf_env, tmp_path, PATH=f"{wrap['real']}:/usr/bin:/bin", FAKE_ARGS_OUT=wrap["args"], FAKE_EXIT=5,
                   OLLAMA_HOST=ollama_fake.url, LLMFIT_OLLAMA_REGISTRY=ollama_fake.url)
    argv = [sys.executable, "-m", module, *[a.format(hw="/nonexistent/hw.json") for a in args]]
    r = _run_wrapped(wrap, argv, env)
    assert r.returncode == 5 and _recorded(wrap) == expect, r.stderr
    (line,) = lines_of(r.stderr)
    assert line.startswith("llmfit: warning:") and "/nonexistent/hw.json" in line
    r = _run_wrapped(wrap, argv + ["--strict"], env)
    assert _recorded(wrap) is None
    assert_one_error(r.returncode, r.stderr, "/nonexistent/hw.json")


def test_python_guard_fails_open_on_predictor_failure(hf_env, tmp_path):
    code = ("import os; from llmfit_core.guard import autoinstall; assert autoinstall() == 'block'; "
            "from huggingface_hub import hf_hub_download; "
            "print(os.path.getsize(hf_hub_download('fake-org/Tiny-GGUF', 'tiny-Q8_0.gguf')))")
    env = _hub_env(hf_env, tmp_path, LLMFIT_GUARD="block", LLMFIT_HARDWARE="/nonexistent/hw.json")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=90,
                       preexec_fn=_limit_memory)
    assert r.returncode == 0 and int(r.stdout) > 0  # the download still happened, unchanged
    (line,) = lines_of(r.stderr)
    assert "FitWarning" in line and "/nonexistent/hw.json" in line
