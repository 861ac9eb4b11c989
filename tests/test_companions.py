"""Companions: a vision projector (--mmproj FILE|auto) and a draft model (--draft REF) add their memory where
llama.cpp puts it; `auto` follows llama-server -hf's rule (common/download.cpp find_best_sibling)."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import pytest
from click.testing import CliRunner
from fakehub import FakeFile

from llmfit_core.api import fit
from llmfit_core.cli.main import cli
from llmfit_core.companions import best_sibling, quant_bits, read_mmproj
from llmfit_core.errors import LlmfitError
from llmfit_core.llamacpp_runner import MIB, load_and_measure
from llmfit_core.synth import VisionShape, finish_sparse_gguf, write_synthetic_gguf, write_synthetic_mmproj

# a SigLIP-like projector: 27 blocks of 1152 wide, 4304 feed-forward, 16 heads, 896 px images of 14 px patches
VISION = dict(embedding_length=1152, feed_forward_length=4304, head_count=16, image_size=896, patch_size=14, blocks=27)


def write_mmproj(path: Path, dtype: str = "F16") -> Path:
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_uint32("clip.vision.embedding_length", VISION["embedding_length"])
    w.add_uint32("clip.vision.feed_forward_length", VISION["feed_forward_length"])
    w.add_uint32("clip.vision.attention.head_count", VISION["head_count"])
    w.add_uint32("clip.vision.head_count", VISION["head_count"])
    w.add_uint32("clip.vision.image_size", VISION["image_size"])
    w.add_uint32("clip.vision.patch_size", VISION["patch_size"])
    w.add_uint32("clip.vision.block_count", VISION["blocks"])
    h, f = VISION["embedding_length"], VISION["feed_forward_length"]
    tensors = []
    for i in range(VISION["blocks"]):
        tensors += [(f"v.blk.{i}.attn_qkv.weight", (h, 3 * h), dtype), (f"v.blk.{i}.attn_out.weight", (h, h), dtype),
                    (f"v.blk.{i}.ffn_up.weight", (h, f), dtype), (f"v.blk.{i}.ffn_down.weight", (f, h), dtype)]
    finish_sparse_gguf(w, path, tensors)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("companions")
    model = write_synthetic_gguf(d / "tiny-F16.gguf", "llama-tiny", "F16")
    return {"model": model, "mmproj": write_mmproj(d / "mmproj-tiny-F16.gguf"), "dir": d,
            "draft": write_synthetic_gguf(tmp_path_factory.mktemp("draft") / "draft-F16.gguf", "llama-tiny", "F16")}


def _hw(ram_gb, vram_gb=None):
    gpus = [{"vendor": "nvidia", "name": "RTX 4060", "vram_gb": vram_gb}] if vram_gb else []
    return {"name": "box", "cpu": {"model": "x", "cores": 8, "threads": 8, "isa": ["avx2"]}, "memory": {"total_gb": ram_gb},
            "gpus": gpus}


def _box_between(model_bytes: int, companion_bytes: int) -> dict:
    """A CPU machine where the model runs alone but not beside its companion."""
    return _hw(round((model_bytes + companion_bytes // 2) / 2**30 + 0.3, 2))


def test_llama_cpp_sibling_rule():
    assert quant_bits("model-Q4_K_M.gguf") == 4 and quant_bits("mmproj-F16.gguf") == 16
    assert quant_bits("m-Q8_0-00001-of-00003.gguf") == 8 and quant_bits("mmproj.gguf") == 0
    files = ["model-Q8_0.gguf", "mmproj-F16.gguf", "mmproj-Q8_0.gguf", "vision/mmproj-F32.gguf", "README.md"]
    assert best_sibling(files, "model-Q8_0.gguf") == "mmproj-Q8_0.gguf"  # nearest bits
    assert best_sibling(files, "model-BF16.gguf") == "mmproj-F16.gguf"
    # the deepest folder shared with the model wins; a projector in another folder is never picked
    assert best_sibling(files, "vision/model-Q4_K_M.gguf") == "vision/mmproj-F32.gguf"
    assert best_sibling(["a/mmproj-F16.gguf"], "b/model-Q4_K_M.gguf") is None
    assert best_sibling(["model.gguf"], "model.gguf") is None


def test_projector_memory_from_its_header_counts_in_the_verdict(files):
    comp = read_mmproj(str(files["mmproj"]))
    h, f = VISION["embedding_length"], VISION["feed_forward_length"]
    assert comp.weights_bytes == VISION["blocks"] * (4 * h * h + 2 * h * f) * 2  # F16 tensors
    patches = (896 // 14) ** 2  # clip.cpp's warmup image; f32 per patch: n_ff + 3 n_embd with flash attention
    assert comp.compute_bytes == patches * (f + 3 * h) * 4
    assert read_mmproj(str(files["mmproj"]), flash_attn=False).compute_bytes == patches * (patches * 16 + 6 * h) * 4
    plain = fit(str(files["model"]), hardware=_hw(16), backend="llama.cpp-cpu")
    both = fit(str(files["model"]), hardware=_hw(16), backend="llama.cpp-cpu", mmproj=str(files["mmproj"]))
    assert both.memory.total_bytes == plain.memory.total_bytes + comp.total_bytes
    assert both.memory.detail.mmproj_bytes == comp.total_bytes
    assert any(r.startswith("vision projector mmproj-tiny-F16.gguf") and "in RAM" in r for r in both.reasons)
    # a machine where the model alone fits but not with the projector
    small = _box_between(plain.memory.total_bytes, comp.total_bytes)
    assert fit(str(files["model"]), hardware=small, backend="llama.cpp-cpu").fits
    assert not fit(str(files["model"]), hardware=small, backend="llama.cpp-cpu", mmproj=str(files["mmproj"])).fits


def test_projector_goes_to_the_gpu_when_it_has_room(files):
    rep = fit(str(files["model"]), hardware=_hw(32, vram_gb=8), backend="llama.cpp-cuda", mmproj=str(files["mmproj"]))
    comp = read_mmproj(str(files["mmproj"]))
    plain = fit(str(files["model"]), hardware=_hw(32, vram_gb=8), backend="llama.cpp-cuda")
    assert rep.memory.gpu_bytes == plain.memory.gpu_bytes + comp.total_bytes
    assert any("on the RTX 4060" in r for r in rep.reasons if r.startswith("vision projector"))
    # less VRAM than the projector needs: llama.cpp would fail to place it there; counted in RAM
    rep = fit(str(files["model"]), hardware=_hw(32, vram_gb=0.5), backend="llama.cpp-cuda", mmproj=str(files["mmproj"]))
    assert rep.memory.cpu_bytes >= comp.total_bytes


def test_mmproj_auto_beside_a_local_model_and_on_the_hub(files, hf_env, fake_hub):
    rep = fit(str(files["model"]), hardware=_hw(16), backend="llama.cpp-cpu", mmproj="auto")
    assert rep.memory.detail.mmproj_bytes == read_mmproj(str(files["mmproj"])).total_bytes
    with pytest.raises(LlmfitError, match="no vision projector"):
        fit(str(files["draft"]), hardware=_hw(16), backend="llama.cpp-cpu", mmproj="auto")

    head = files["mmproj"].read_bytes()[: 1 << 20]
    size = files["mmproj"].stat().st_size
    model_head = Path(files["model"]).read_bytes()
    fake_hub.add_repo("fake-org/Vision-GGUF", [
        FakeFile("vision-Q8_0.gguf", len(model_head), model_head),
        FakeFile("mmproj-vision-F16.gguf", size, head[: min(len(head), size)]),
        FakeFile("mmproj-vision-Q8_0.gguf", size, head[: min(len(head), size)])])
    rep = fit("fake-org/Vision-GGUF", hardware=_hw(16), backend="llama.cpp-cpu", mmproj="auto")
    names = [r for r in rep.reasons if r.startswith("vision projector")]
    assert names and "mmproj-vision-Q8_0.gguf" in names[0]  # nearest to the model's 8 bits, as llama.cpp picks
    assert rep.memory.detail.mmproj_bytes == read_mmproj(str(files["mmproj"])).total_bytes


def test_draft_model_adds_its_weights_kv_and_compute(files):
    plain = fit(str(files["model"]), hardware=_hw(16), backend="llama.cpp-cpu", context=2048)
    rep = fit(str(files["model"]), hardware=_hw(16), backend="llama.cpp-cpu", context=2048, draft=str(files["draft"]))
    extra = rep.memory.detail.draft_bytes
    assert rep.memory.kv_cache_bytes == 2 * plain.memory.kv_cache_bytes  # the same shape at the same context
    assert rep.memory.total_bytes == plain.memory.total_bytes + extra
    assert any(r.startswith("draft model") for r in rep.reasons)


def test_cli_options_and_bad_input(files):
    runner = CliRunner()
    res = runner.invoke(cli, ["fit", str(files["model"]), "--hardware", "cpu-only-16gb", "--mmproj", str(files["mmproj"]),
                              "--draft", str(files["draft"]), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)["memory"]["detail"]
    assert d["mmproj_bytes"] > 0 and d["draft_bytes"] > 0
    res = runner.invoke(cli, ["check", str(files["model"]), "--hardware", "cpu-only-16gb", "--mmproj", "nope.gguf"])
    assert res.exit_code == 1 and "no such file" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["fit", str(files["model"]), "--hardware", "macbook-pro-m3-max", "--backend", "mlx",
                              "--draft", str(files["draft"])])
    assert res.exit_code == 1 and "llama.cpp companions" in res.output


# -- Hub listings: `hf ls` / `hf download` count the projector llama-server -hf loads ----------------------------

VISION_REPO = "fake-org/Vision-Listing-GGUF"


@pytest.fixture
def vision_repo(files, hf_env, fake_hub):
    """A GGUF repo with two model files and two projectors (F16 and Q8_0), as vision GGUF uploads are laid out."""
    import dataclasses

    from conftest import TINY
    from fakehub import gguf_files

    if VISION_REPO not in fake_hub.repos:
        head = files["mmproj"].read_bytes()[: 1 << 20]
        size = files["mmproj"].stat().st_size
        models = gguf_files("vision-Q4_K_M.gguf", TINY) + gguf_files("vision-F16.gguf",
                                                                      dataclasses.replace(TINY, quant="F16"))
        fake_hub.add_repo(VISION_REPO, [*models, FakeFile("mmproj-vision-F16.gguf", size, head),
                                        FakeFile("mmproj-vision-Q8_0.gguf", size, head)], tags=["gguf", "llama"])
    fake_hub.reset_counts()
    return read_mmproj(str(files["mmproj"]))


def _ls(*extra):
    res = CliRunner().invoke(cli, ["hf", "ls", VISION_REPO, "--json", *extra])
    assert res.exit_code == 0, res.output
    return {r["quant"]: r for r in json.loads(res.stdout)}


def test_hf_ls_counts_the_projector_llama_server_loads(vision_repo, fake_hub, tmp_path):
    rows, text_only = _ls(), _ls("--no-mmproj")
    # llama.cpp's rule: nearest quant bits to the model's (4 -> Q8_0's 8, 16 -> F16's 16)
    assert rows["Q4_K_M"]["mmproj"] == "mmproj-vision-Q8_0.gguf" and rows["F16"]["mmproj"] == "mmproj-vision-F16.gguf"
    for q, r in rows.items():
        assert r["mmproj_bytes"] == vision_repo.total_bytes
        assert r["memory_bytes"] == text_only[q]["memory_bytes"] + vision_repo.total_bytes
        assert "+ vision projector mmproj-vision-" in r["note"] and text_only[q]["mmproj"] is None
    # each projector's header read once, never its weights
    for name in ("mmproj-vision-F16.gguf", "mmproj-vision-Q8_0.gguf"):
        assert 0 < fake_hub.served(VISION_REPO, name) < vision_repo.weights_bytes // 4

    # the verdict follows: a machine where the text model runs, but not beside its projector
    need = text_only["F16"]["memory_bytes"]
    box = tmp_path / "box.json"
    box.write_text(json.dumps(_box_between(need, vision_repo.total_bytes)))
    assert _ls("--hardware", str(box), "--no-mmproj")["F16"]["fits"]
    assert _ls("--hardware", str(box))["F16"]["verdict"] == "no-fit"


def _hf_download(env, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", "hf", "download", VISION_REPO, *args],
                          env=env, capture_output=True, text=True, timeout=180)


def test_hf_download_counts_a_projector_it_brings(vision_repo, hf_env, tmp_path):
    plain = fit(f"{VISION_REPO}:F16", hardware=_hw(16), backend="llama.cpp-cpu")
    box = tmp_path / "box.json"
    box.write_text(json.dumps(_box_between(plain.memory.total_bytes, vision_repo.total_bytes)))
    # the model alone (llama-server -m FILE loads no projector): fits
    res = _hf_download(hf_env["env"], "vision-F16.gguf", "--dry-run", "--hardware", str(box))
    assert res.returncode == 0 and "dry run: fits" in res.stderr and "mmproj" not in res.stderr, res.stderr
    # model + projector, as the real hf CLI plans it: counted, said, and stopped before a byte of weights
    res = _hf_download(hf_env["env"], "vision-F16.gguf", "mmproj-vision-F16.gguf", "--hardware", str(box))
    assert res.returncode == 3, res.stderr
    assert "vision-F16.gguf + mmproj-vision-F16.gguf" in res.stderr
    assert "+ vision projector mmproj-vision-F16.gguf" in res.stderr and "Traceback" not in res.stderr
    # the whole repo: each model with the projector llama.cpp would pick for it
    res = _hf_download(hf_env["env"], "--dry-run")
    assert "vision-Q4_K_M.gguf + mmproj-vision-Q8_0.gguf" in res.stderr, res.stderr
    assert "vision-F16.gguf + mmproj-vision-F16.gguf" in res.stderr


def test_hf_shim_check_counts_the_projector(vision_repo, hf_env, tmp_path, monkeypatch, capsys):
    import io

    from llmfit_core.shims import run_check

    plain = fit(f"{VISION_REPO}:F16", hardware=_hw(16), backend="llama.cpp-cpu")
    box = tmp_path / "box.json"
    box.write_text(json.dumps(_box_between(plain.memory.total_bytes, vision_repo.total_bytes)))
    monkeypatch.setenv("LLMFIT_HARDWARE", str(box))
    err = io.StringIO()
    assert run_check("hf", ["download", VISION_REPO, "vision-F16.gguf"], err=err) == 0, err.getvalue()
    err = io.StringIO()
    code = run_check("hf", ["download", VISION_REPO, "vision-F16.gguf", "mmproj-vision-F16.gguf"], err=err)
    assert code == 3 and "[vision-F16.gguf + mmproj-vision-F16.gguf]" in err.getvalue(), err.getvalue()


# -- the projector's figures against a real load (libmtmd through llama-cpp-python) -------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("shape,flash_attn", [
    (VisionShape(blocks=2, text_embd=256), True),  # Gemma 3's SigLIP at 896 px: 4096 patches
    (VisionShape(n_embd=2304, n_ff=1000, image_size=448, blocks=1, text_embd=256), True),  # attention stage peaks
    (VisionShape(image_size=448, blocks=1, text_embd=256), False),  # KQ scores materialised
])
def test_projector_figures_match_clip_cpp(tmp_path, shape, flash_attn):
    pytest.importorskip("llama_cpp.mtmd_cpp")
    model = write_synthetic_gguf(tmp_path / "text.gguf", "llama-tiny", "F16")  # n_embd 256 = shape.text_embd
    mmproj = write_synthetic_mmproj(tmp_path / "mmproj.gguf", shape)
    log = load_and_measure(model, n_ctx=256, flash_attn=flash_attn, mmproj=mmproj).log
    comp = read_mmproj(str(mmproj), flash_attn=flash_attn)
    assert log.mmproj_compute_mib == {"CPU": pytest.approx(comp.compute_bytes / MIB, abs=0.01)}
    assert log.mmproj_model_mib == pytest.approx(comp.weights_bytes / MIB, abs=0.01)
    assert log.compute_bytes < comp.compute_bytes  # the text model's own compute buffer is parsed apart
