"""Load-time autopilot: real llama-cpp-python loads of real small GGUFs in a subprocess, under guard modes
auto / warn / block; llama.cpp's own buffer log lines are compared with the decision's budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmfit_core.api import fit_spec
from llmfit_core.autopilot import LoadGuard
from llmfit_core.llamacpp_runner import parse_llama_log
from llmfit_core.readers.gguf import read_gguf
from llmfit_core.synth import SynthShape, write_synthetic_gguf

llama_cpp = pytest.importorskip("llama_cpp")

ROOT = Path(__file__).resolve().parents[1]
# a 4-layer llama with a 64k trained context: the KV cache and (without flash attention) the KQ scores of the
# compute buffer grow with n_ctx, so the context is what a small memory budget limits
LONG = SynthShape("llama", 4, 256, 4, 2, 64, 768, 4096, ctx_train=65536)
# the same with gemma2's sliding-window layers: Llama() keeps their KV at full size (swa_full), llama.cpp would not
LONG_SWA = SynthShape("gemma2", 4, 256, 4, 2, 64, 768, 4096, ctx_train=65536, tied=True, sliding_window=256,
                      swa_pattern=2)


def _profile(total_gb: float, available_gb: float | None = None) -> dict:
    mem = {"total_gb": total_gb} if available_gb is None else {"total_gb": total_gb, "available_gb": available_gb}
    return {"name": "small", "cpu": {"model": "x", "cores": 2, "threads": 2, "isa": ["avx2"]}, "memory": mem}


SCRIPT = """
import json, sys
import llmfit_core.guard as guard
mode, hardware, kwargs = sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
guard.install(mode=mode, hardware=hardware)
from llama_cpp import Llama
try:
    llm = Llama(model_path=sys.argv[1], verbose=True, **kwargs)
except Exception as exc:
    d = guard.last_decision()
    print(json.dumps({"error": type(exc).__name__, "message": str(exc), "decision": d and d.to_dict()}))
    sys.exit(0)
d = guard.last_decision()
print(json.dumps({"decision": d and d.to_dict(), "n_ctx": llm.n_ctx()}))
"""


def _load(path, mode: str, hardware: dict, **kwargs):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]), LLMFIT_RECORD="0")
    proc = subprocess.run([sys.executable, "-W", "always", "-c", SCRIPT, str(path), mode, json.dumps(hardware),
                           json.dumps(kwargs)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("autopilot")
    return {"long": write_synthetic_gguf(d / "long-f16.gguf", LONG, "F16"),
            "tiny": write_synthetic_gguf(d / "tiny-f16.gguf", "llama-tiny", "F16"),
            "swa": write_synthetic_gguf(d / "swa-f16.gguf", LONG_SWA, "F16")}


def test_auto_picks_the_largest_context_that_fits_and_llama_cpp_allocates_within_budget(models):
    hw = _profile(0.6)
    out, err = _load(models["long"], "auto", hw)
    d = out["decision"]
    assert d["chosen"] == ["n_ctx"] and d["fits"]
    assert 512 <= d["n_ctx"] < 65536 and d["n_ctx"] % 256 == 0
    assert out["n_ctx"] == d["n_ctx"]  # the model really loaded with it
    log = parse_llama_log(err)
    assert log.n_ctx == d["n_ctx"]
    # llama.cpp's own buffers (weights, KV, compute, output) stay inside the budget, and the prediction covers them
    assert 0 < log.total_bytes <= d["budget_bytes"]
    assert log.total_bytes <= d["predicted_total_bytes"] <= log.total_bytes * 1.25
    # the largest: 256 more tokens would not fit
    spec = read_gguf(str(models["long"]))
    assert not fit_spec(spec, hardware=hw, context=d["n_ctx"] + 256, backend="llama.cpp-cpu", flash_attn=False).fits
    lines = [ln for ln in err.splitlines() if ln.startswith("llmfit:")]
    assert len(lines) == 1 and f"n_ctx={d['n_ctx']} (chosen)" in lines[0]


def test_auto_prices_llama_cpp_pythons_own_defaults_for_a_sliding_window_model(models):
    """Llama() keeps sliding-window layers' KV at full size (swa_full) and batches 512: the choice must fit what it
    really allocates, not llama.cpp's own defaults (a window-sized cache would overshoot the budget)."""
    hw = _profile(0.6)
    out, err = _load(models["swa"], "auto", hw)
    d = out["decision"]
    assert d["chosen"] == ["n_ctx"] and d["fits"] and out["n_ctx"] == d["n_ctx"]
    log = parse_llama_log(err)
    assert 0 < log.total_bytes <= d["budget_bytes"]
    assert log.total_bytes <= d["predicted_total_bytes"] <= log.total_bytes * 1.25


def test_auto_caps_at_the_trained_context_and_n_ctx_0_is_chosen_too(models):
    out, _ = _load(models["tiny"], "auto", _profile(16), n_ctx=0)
    assert out["decision"]["n_ctx"] == out["n_ctx"] == 4096 and out["decision"]["chosen"] == ["n_ctx"]


def test_explicit_values_are_kept(models):
    out, err = _load(models["long"], "auto", _profile(0.6), n_ctx=1024, n_gpu_layers=3)
    d = out["decision"]
    assert out["n_ctx"] == d["n_ctx"] == 1024 and d["n_gpu_layers"] == 3 and d["chosen"] == []
    assert "(chosen)" not in err


def test_block_mode_stops_an_explicit_context_that_does_not_fit_before_llama_cpp_allocates(models):
    out, err = _load(models["long"], "block", _profile(0.6), n_ctx=65536)
    assert out["error"] == "LoadBlockedError"
    assert "n_ctx=65536" in out["message"] and "free" in out["message"]
    assert out["decision"]["n_ctx"] == 65536 and not out["decision"]["fits"]
    assert parse_llama_log(err).total_bytes == 0  # nothing was loaded


def test_warn_mode_warns_and_loads_with_the_callers_values(models):
    out, err = _load(models["tiny"], "warn", _profile(0.05), n_ctx=4096)
    assert out["n_ctx"] == 4096 and not out["decision"]["fits"]
    assert "LoadFitWarning" in err and "does not fit at n_ctx=4096" in err


def test_n_gpu_layers_minus_one_is_what_fits_the_vram(tmp_path):
    """A ~40 GB model (real header, sparse data) on a 24 GB GPU: auto picks a partial offload."""
    from conftest import HUGE
    from fakehub import gguf_files

    f = gguf_files("huge-Q4_K_M.gguf", HUGE)[0]
    path = tmp_path / "huge-Q4_K_M.gguf"
    with open(path, "wb") as fh:
        fh.write(f.head)
        fh.truncate(f.size)
    d, changes = __import__("llmfit_llamacpp.autopilot", fromlist=["decide"]).decide(
        str(path), {"n_gpu_layers": -1}, LoadGuard("auto", "workstation-4090"), {"n_ctx": 512, "n_gpu_layers": 0})
    assert d.fits and set(changes) == {"n_ctx", "n_gpu_layers"}
    assert 0 < d.n_gpu_layers < 81 and changes["n_gpu_layers"] == d.n_gpu_layers
    rep = fit_spec(read_gguf(str(path)), hardware="workstation-4090", context=d.n_ctx, backend="llama.cpp-cuda",
                   flash_attn=False)
    assert rep.fits and rep.gpu_layers == d.n_gpu_layers
    # warn mode chooses nothing: -1 stays every layer, and that does not fit the card
    d, changes = __import__("llmfit_llamacpp.autopilot", fromlist=["decide"]).decide(
        str(path), {"n_gpu_layers": -1}, LoadGuard("warn", "workstation-4090"), {"n_ctx": 512, "n_gpu_layers": 0})
    assert changes == {} and d.n_gpu_layers == -1 and not d.fits


def test_n_gpu_layers_minus_one_on_this_cpu_only_build(models):
    """llama-cpp-python passes -1 on as 2**31-1 (every layer); a CPU-only build assigns every layer to the CPU. Auto
    mode chooses 0 (the same load); warn mode keeps -1. Either way llama.cpp's buffers are the priced ones."""
    hw = _profile(0.6)
    out, err = _load(models["long"], "auto", hw, n_gpu_layers=-1)
    d = out["decision"]
    assert d["chosen"] == ["n_ctx", "n_gpu_layers"] and d["n_gpu_layers"] == 0 and d["fits"]
    log = parse_llama_log(err)
    assert err.count("assigned to device CPU") == LONG.n_layers + 1 and "offloaded" not in err
    assert 0 < log.total_bytes <= d["budget_bytes"]
    assert log.total_bytes <= d["predicted_total_bytes"] <= log.total_bytes * 1.25
    kept, err_kept = _load(models["long"], "warn", hw, n_gpu_layers=-1, n_ctx=d["n_ctx"])
    assert kept["decision"]["n_gpu_layers"] == -1 and kept["decision"]["chosen"] == []
    assert kept["decision"]["predicted_total_bytes"] == d["predicted_total_bytes"]
    assert parse_llama_log(err_kept).total_bytes == log.total_bytes  # -1 and 0 are the same load here


def test_guard_modes_and_env(monkeypatch):
    import llmfit_core.guard as guard

    try:
        monkeypatch.setenv("LLMFIT_GUARD", "auto")
        assert guard.autoinstall() == "auto" and guard.installed_mode() == "auto"
    finally:
        guard.uninstall()
    assert guard.last_decision() is None or guard.last_decision().runner


def test_python_m_guard_auto_runs_an_unchanged_script(models, tmp_path):
    script = tmp_path / "user_script.py"
    script.write_text("import sys\nfrom llama_cpp import Llama\nllm = Llama(model_path=sys.argv[1], verbose=False)\n"
                      "print('n_ctx', llm.n_ctx())\n")
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps(_profile(16)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]), LLMFIT_RECORD="0",
               LLMFIT_HARDWARE=str(hw))
    env.pop("LLMFIT_GUARD", None)
    proc = subprocess.run([sys.executable, "-m", "llmfit_core.guard", "--auto", str(script), str(models["tiny"])],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "n_ctx 4096"  # llama-cpp-python's default would have been 512
    assert "n_ctx=4096 (chosen)" in proc.stderr


def test_llmfit_guard_auto_at_start_up_chooses_for_an_unchanged_script(models, tmp_path):
    """LLMFIT_GUARD=auto python script.py: the shipped start-up hook (llmfit_guard.pth, run from a user site
    directory the way site-packages runs it) installs the load guard; llama_cpp is patched when it is imported."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]), LLMFIT_RECORD="0",
               PYTHONUSERBASE=str(tmp_path / "userbase"))
    for k in ("PYTHONNOUSERSITE", "LLMFIT_GUARD", "LLMFIT_HARDWARE"):
        env.pop(k, None)
    site_dir = subprocess.run([sys.executable, "-c", "import site; print(site.getusersitepackages())"], env=env,
                              capture_output=True, text=True, timeout=60).stdout.strip()
    os.makedirs(site_dir)
    (Path(site_dir) / "llmfit_guard.pth").write_bytes((ROOT / "llmfit_guard.pth").read_bytes())
    script = tmp_path / "user_script.py"
    script.write_text("import sys\nfrom llama_cpp import Llama\nllm = Llama(model_path=sys.argv[1], verbose=False)\n"
                      "print('n_ctx', llm.n_ctx())\n")
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps(_profile(16)))
    proc = subprocess.run([sys.executable, str(script), str(models["tiny"])], capture_output=True, text=True,
                          timeout=300, env=dict(env, LLMFIT_GUARD="auto", LLMFIT_HARDWARE=str(hw)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "n_ctx 4096" and "n_ctx=4096 (chosen)" in proc.stderr
    plain = subprocess.run([sys.executable, str(script), str(models["tiny"])], capture_output=True, text=True,
                           timeout=300, env=env)
    assert plain.stdout.strip() == "n_ctx 512" and "llmfit" not in plain.stderr  # unset: llama-cpp-python's own
