"""llama.cpp adapter: build detection, backend hook, from_pretrained refs, n_gpu_layers/n_ctx suggestions,
and the llama-cli / hf shims against the fake Hub."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

import llmfit_llamacpp as lc
from llmfit_core import shims
from llmfit_core.api import fit_spec

llama_cpp = pytest.importorskip("llama_cpp")


def test_detect_build_matches_the_library():
    b = lc.detect_build()
    assert b.version == llama_cpp.__version__
    assert b.gpu_offload == bool(llama_cpp.llama_supports_gpu_offload())
    assert "CPU" in b.ggml_backends
    if not b.gpu_offload:
        assert b.backend == "llama.cpp-cpu"
    ok, msg = lc.runner_status()
    assert ok and b.backend in msg
    assert [x.name for x in lc.llmfit_backends(None)] == [b.backend]


def test_detect_build_reads_the_libraries_without_importing_llama_cpp():
    """Start-up time: `fit`/`check` on this machine ask the build what it has; importing the llama_cpp package
    (numpy, jinja2, diskcache) for that cost ~0.1 s. A fresh process finds what the package itself reports."""
    code = ("import dataclasses, json, sys; import llmfit_llamacpp as lc; b = lc.detect_build(); "
            "print(json.dumps([dataclasses.asdict(b), 'llama_cpp' in sys.modules, 'numpy' in sys.modules]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    fresh, imported_llama_cpp, imported_numpy = json.loads(res.stdout)
    assert not imported_llama_cpp and not imported_numpy
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    assert fresh == dataclasses.asdict(lc.LlamaCppBuild(
        version=llama_cpp.__version__, gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
        ggml_backends=lc._ggml_backends(os.path.join(os.path.dirname(llama_cpp.__file__), "lib")),
        system_info=" ".join(info.split())))


@pytest.mark.parametrize("offload,names,expect", [
    (True, ["CUDA", "CPU"], "llama.cpp-cuda"), (True, ["Metal", "BLAS", "CPU"], "llama.cpp-metal"),
    (True, ["Vulkan", "CPU"], "llama.cpp-vulkan"), (True, ["ROCm", "CPU"], "llama.cpp-rocm"),
    (False, ["CPU"], "llama.cpp-cpu"), (False, ["CUDA", "CPU"], "llama.cpp-cpu"),
])
def test_backend_mapping(offload, names, expect):
    assert lc.LlamaCppBuild("x", offload, names).backend == expect


def test_from_pretrained_reference_by_file_and_glob(hf_env):
    spec = lc.resolve_from_pretrained("fake-org/Tiny-GGUF", "tiny-Q8_0.gguf")
    assert spec.quant == "Q8_0" and spec.exact
    spec = lc.resolve_from_pretrained("fake-org/Tiny-GGUF", "*Q4_K_M.gguf")
    assert spec.quant == "Q4_K_M"


def test_suggestion_is_the_largest_context_that_fits(hf_env):
    spec = lc.resolve_from_pretrained("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf")
    s = lc.suggest_settings(spec, hardware="workstation-4090", context=32768)
    assert s.fits and s.backend == "llama.cpp-cuda"
    assert 0 < s.n_gpu_layers < s.total_layers  # ~40 GB of weights: partly on the 24 GB card
    assert s.text == f"use n_gpu_layers={s.n_gpu_layers}, n_ctx={s.n_ctx}"
    rep = fit_spec(spec, hardware="workstation-4090", context=s.n_ctx, backend="cuda")
    assert rep.fits and rep.gpu_layers == s.n_gpu_layers
    if s.n_ctx < 32768:  # the next step up would not fit
        assert not fit_spec(spec, hardware="workstation-4090", context=s.n_ctx * 2, backend="cuda").fits
    # a machine where nothing fits says so
    s = lc.suggest_settings(spec, hardware="raspberry-pi-5", context=4096)
    assert not s.fits and "does not fit" in s.text


def test_suggestion_on_this_machine_uses_the_build(hf_env):
    spec = lc.resolve_from_pretrained("fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    s = lc.suggest_settings(spec)
    assert s.fits and s.backend == lc.detect_build().backend
    if s.backend == "llama.cpp-cpu":
        assert s.n_gpu_layers == 0
    assert s.n_ctx == spec.max_context  # a tiny model fits at its full context


# ---- shims against the fake Hub -----------------------------------------------------------------

FAKE_REAL = "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$FAKE_ARGS_OUT\"\nexit 0\n"


@pytest.fixture
def shim_run(hf_env, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    for tool in shims.shim_tools():
        (real / tool).write_text(FAKE_REAL)
        (real / tool).chmod(0o755)
    d = tmp_path / "shims"
    shims.install(d, python=sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMFIT_")}
    env.update(hf_env["env"])
    env.update(PATH=f"{d}:{real}:/usr/bin:/bin", FAKE_ARGS_OUT=str(tmp_path / "args"), LLMFIT_HARDWARE="cpu-only-16gb")

    def run(*args):
        out = tmp_path / "args"
        if out.exists():
            out.unlink()
        r = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=180)
        return r, (out.read_text().splitlines() if out.exists() else None)

    return run


def test_llama_cli_hf_fits_with_suggestion(shim_run, fake_hub):
    r, args = shim_run("llama-cli", "-hf", "fake-org/Tiny-GGUF:Q4_K_M", "-p", "hi there")
    assert r.returncode == 0, r.stderr
    assert args == ["-hf", "fake-org/Tiny-GGUF:Q4_K_M", "-p", "hi there"]
    assert "runs" in r.stderr and "use n_gpu_layers=0, n_ctx=" in r.stderr


def test_llama_server_and_hf_download_that_do_not_fit_stop(shim_run, fake_hub):
    fake_hub.reset_counts()
    r, args = shim_run("llama-server", "--hf-repo", "fake-org/Huge-GGUF:Q4_K_M")
    assert r.returncode == 3 and args is None
    assert len(r.stderr.splitlines()) == 1 and "no-fit" in r.stderr
    r, args = shim_run("hf", "download", "fake-org/Huge-GGUF", "huge-Q4_K_M.gguf")
    assert r.returncode == 3 and args is None and "no-fit" in r.stderr
    assert fake_hub.served("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf") < 8 << 20  # header bytes, not 40 GB


def test_hf_download_that_fits_passes_through_with_one_line(shim_run, fake_hub):
    r, args = shim_run("hf", "download", "fake-org/Tiny-GGUF", "--include", "*Q8_0*", "--local-dir", "a dir")
    assert r.returncode == 0, r.stderr
    assert args == ["download", "fake-org/Tiny-GGUF", "--include", "*Q8_0*", "--local-dir", "a dir"]
    assert len(r.stderr.splitlines()) == 1 and "tiny-Q8_0" in r.stderr and "runs" in r.stderr


def test_missing_runner_disables_only_this_adapter(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp -> ImportError
    ok, msg = lc.runner_status()
    assert not ok and "not installed" in msg
    assert lc.llmfit_backends(None) is None
