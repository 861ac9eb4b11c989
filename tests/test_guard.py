"""The Python download guard against the fake Hub (real huggingface_hub functions, wrapped)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

hh = pytest.importorskip("huggingface_hub")

from llmfit_core import guard  # noqa: E402

SLACK = 1 << 20


@pytest.fixture
def tiny_box(tmp_path):
    p = tmp_path / "tiny-box.json"
    p.write_text(json.dumps({"name": "tiny-box", "cpu": {"model": "x", "cores": 2, "threads": 2, "isa": ["avx2"],
                                                         "mem_bandwidth_gbs": 20},
                             "memory": {"total_gb": 0.02, "available_gb": 0.02}, "gpus": [], "unified_memory": False}))
    return str(p)


@pytest.fixture
def guarded():
    yield guard
    guard.uninstall()


def _cached(cache, repo, name):
    return list((cache / f"models--{repo.replace('/', '--')}").glob(f"snapshots/*/{name}"))


def test_block_raises_before_any_weight_byte(hf_env, fake_hub, guarded):
    guarded.install("block")
    f = fake_hub.repos["fake-org/Huge-GGUF"].files["huge-Q4_K_M.gguf"]
    with pytest.raises(guard.DownloadBlockedError) as ei:
        hh.hf_hub_download("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf")
    assert "does not fit" in str(ei.value)
    # the name consumers import from the defining module is wrapped too
    from huggingface_hub.file_download import hf_hub_download

    with pytest.raises(guard.DownloadBlockedError):
        hf_hub_download(repo_id="fake-org/Huge-GGUF", filename="huge-Q4_K_M.gguf")
    with pytest.raises(guard.DownloadBlockedError):
        hh.snapshot_download("fake-org/Huge-GGUF", allow_patterns=["*Q8_0*"])
    assert fake_hub.served("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf") <= 2 * (len(f.head) + SLACK)
    assert not _cached(hf_env["cache"], "fake-org/Huge-GGUF", "huge-Q4_K_M.gguf")


def test_guard_does_not_change_what_is_downloaded(hf_env, fake_hub, guarded, tiny_box):
    guarded.install("warn", hardware=tiny_box)
    with pytest.warns(guard.FitWarning, match="does not fit"):
        path = hh.hf_hub_download("fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    guard.uninstall()
    assert path == hh.hf_hub_download("fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")  # same path, same file
    f = fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q4_K_M.gguf"]
    with open(path, "rb") as fh:
        assert fh.read(len(f.head)) == f.head
    # snapshot: same return value with and without the guard
    guarded.install("block")
    snap = hh.snapshot_download("fake-org/Tiny-GGUF", allow_patterns=["*Q8_0*"])
    guard.uninstall()
    assert snap == hh.snapshot_download("fake-org/Tiny-GGUF", allow_patterns=["*Q8_0*"])


def test_cached_files_are_not_checked_again(hf_env, fake_hub, guarded):
    guarded.install("block")
    hh.hf_hub_download("fake-org/Tiny-GGUF", "tiny-Q8_0.gguf")
    fake_hub.reset_counts()
    hh.hf_hub_download("fake-org/Tiny-GGUF", "tiny-Q8_0.gguf")
    assert not [r for r in fake_hub.requests if r[2] is not None]  # no ranged header reads
    assert not [r for r in fake_hub.requests if r[1].startswith("/api/models/")]


def test_dry_run_and_uninstall_pass_through(hf_env, guarded):
    original = hh.hf_hub_download
    guarded.install("block")
    assert hh.hf_hub_download is not original and guard.installed_mode() == "block"
    info = hh.hf_hub_download("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf", dry_run=True)  # asked for: no check
    assert info.will_download
    guard.uninstall()
    assert hh.hf_hub_download is original and guard.installed_mode() is None


def test_llama_from_pretrained_is_guarded(hf_env, guarded):
    llama_cpp = pytest.importorskip("llama_cpp")
    guarded.install("block")
    with pytest.raises(guard.DownloadBlockedError):
        llama_cpp.Llama.from_pretrained("fake-org/Huge-GGUF", "*Q4_K_M.gguf")


@pytest.mark.parametrize("module,attr,call", [
    ("mlx_lm.utils", "snapshot_download", lambda f: f("fake-org/Huge-GGUF", allow_patterns=["*Q4_K_M*"])),
    ("transformers.utils.hub", "hf_hub_download", lambda f: f("fake-org/Big-llama", "model-00001-of-00003.safetensors")),
])
def test_consumer_module_names_are_patched_when_loaded(hf_env, guarded, monkeypatch, module, attr, call):
    import types

    fake = types.ModuleType(module)
    setattr(fake, attr, getattr(hh, attr))  # `from huggingface_hub import NAME` at import time, as they do
    monkeypatch.setitem(sys.modules, module, fake)  # the real modules import mlx / torch-free transformers (slow)
    guarded.install("block")
    assert getattr(getattr(fake, attr), "__llmfit_guard__", False)
    with pytest.raises(guard.DownloadBlockedError):
        call(getattr(fake, attr))


def test_autoinstall_is_opt_in(monkeypatch, guarded, capsys):
    monkeypatch.delenv("LLMFIT_GUARD", raising=False)
    assert guard.autoinstall() is None and guard.installed_mode() is None
    monkeypatch.setenv("LLMFIT_GUARD", "sometimes")
    assert guard.autoinstall() is None and "not warn|block" in capsys.readouterr().err
    monkeypatch.setenv("LLMFIT_GUARD", "block")
    assert guard.autoinstall() == "block" and guard.installed_mode() == "block"
    with pytest.raises(Exception):
        guard.install("explode")


def test_python_m_guard_runs_a_script_unchanged(hf_env, tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import sys\nfrom huggingface_hub import hf_hub_download\n"
                      "print(hf_hub_download('fake-org/Huge-GGUF', 'huge-Q4_K_M.gguf'))\n")
    res = subprocess.run([sys.executable, "-m", "llmfit_core.guard", "--block", str(script)], env=hf_env["env"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 3 and "does not fit" in res.stderr and "Traceback" not in res.stderr
    ok = tmp_path / "ok.py"
    ok.write_text("import sys\nprint(sys.argv[1:])\n")
    res = subprocess.run([sys.executable, "-m", "llmfit_core.guard", str(ok), "a", "--b"], env=hf_env["env"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "['a', '--b']"


def test_warn_mode_fails_open_on_planning_errors(hf_env, guarded):
    guarded.install("warn")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with pytest.raises(Exception) as ei:  # the real call's own error, unchanged
            hh.hf_hub_download("fake-org/nope", "x.gguf")
    assert type(ei.value).__name__ == "RepositoryNotFoundError"
    assert any(issubclass(x.category, guard.FitWarning) for x in w)


# ---- HfFileSystem (fsspec `hf://` copies) ---------------------------------------------------
# tiny_box makes the small fake models too big, so a guard that fails to stop a copy costs a few MB, not 40 GB


def _weight_gets(hub, repo, name):
    """Un-ranged GETs of a file: the copy itself (the fit check only reads a header with Range)."""
    return [r for r in hub.requests if r[0] == "GET" and r[1] == f"/{repo}/resolve/main/{name}" and r[2] is None]


@pytest.fixture
def sharded_repo(fake_hub):
    """A small transformers model in 3 safetensors shards (+ index), removed from the hub afterwards."""
    from fakehub import llama_config

    repo = "fake-hffs/Sharded-llama"
    fake_hub.add_safetensors_repo(repo, llama_config(), n_shards=3)
    yield repo
    del fake_hub.repos[repo]


def test_hffs_block_stops_get_file_before_any_weight_byte(hf_env, fake_hub, guarded, tiny_box, tmp_path):
    from huggingface_hub import HfFileSystem

    guarded.install("block", hardware=tiny_box)
    fs = HfFileSystem()
    f = fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q4_K_M.gguf"]
    for copy in (lambda: fs.get_file("hf://fake-org/Tiny-GGUF/tiny-Q4_K_M.gguf", str(tmp_path / "a.gguf")),
                 lambda: fs.get("hf://fake-org/Tiny-GGUF/tiny-Q4_K_M.gguf", str(tmp_path) + "/"),
                 lambda: fs.download("fake-org/Tiny-GGUF/*Q4_K_M*", str(tmp_path / "d") + "/")):
        with pytest.raises(guard.DownloadBlockedError, match="does not fit"):
            copy()
    assert not _weight_gets(fake_hub, "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    assert fake_hub.served("fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf") < f.size  # header reads only
    assert not list(tmp_path.rglob("*.gguf"))


def test_hffs_warn_then_same_bytes(hf_env, fake_hub, guarded, tiny_box, tmp_path):
    from huggingface_hub import HfFileSystem

    guarded.install("warn", hardware=tiny_box)
    fs = HfFileSystem()
    with pytest.warns(guard.FitWarning, match="does not fit"):
        assert fs.get_file("fake-org/Tiny-GGUF/tiny-Q4_K_M.gguf", str(tmp_path / "w.gguf")) is None
    guard.uninstall()
    fs.get_file("fake-org/Tiny-GGUF/tiny-Q4_K_M.gguf", str(tmp_path / "plain.gguf"))
    f = fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q4_K_M.gguf"]
    assert (tmp_path / "w.gguf").read_bytes() == (tmp_path / "plain.gguf").read_bytes()
    assert (tmp_path / "w.gguf").stat().st_size == f.size and (tmp_path / "w.gguf").read_bytes()[:len(f.head)] == f.head


def test_hffs_recursive_get_of_a_sharded_repo_is_checked_once(hf_env, fake_hub, guarded, tiny_box, sharded_repo,
                                                              tmp_path, monkeypatch):
    from huggingface_hub import HfFileSystem
    from llmfit_hf import predownload

    seen = []
    real = predownload.check_plan
    monkeypatch.setattr(predownload, "check_plan", lambda repo, planned, **kw: seen.append(
        sorted(p.name for p in planned)) or real(repo, planned, **kw))
    guarded.install("block", hardware=tiny_box)
    with pytest.raises(guard.DownloadBlockedError, match="does not fit"):
        HfFileSystem().get(f"hf://{sharded_repo}", str(tmp_path / "m") + "/", recursive=True)
    shards = [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    assert seen == [shards]  # the whole set, in one check
    assert not [r for s in shards for r in _weight_gets(fake_hub, sharded_repo, s)]
    assert not list(tmp_path.rglob("*.safetensors"))


def test_hffs_small_model_and_configs_pass_silently(hf_env, fake_hub, guarded, tmp_path):
    from huggingface_hub import HfFileSystem

    guarded.install("block")
    fs = HfFileSystem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fs.get("hf://fake-org/Tiny-llama", str(tmp_path / "tl") + "/", recursive=True)
        # checked (the dry run of the weights), and it fits: no warning
        assert ("HEAD", "/fake-org/Tiny-llama/resolve/main/model.safetensors", None) in fake_hub.requests
        fake_hub.reset_counts()
        fs.get_file("hf://fake-org/Huge-GGUF/README.md", str(tmp_path / "README.md"))  # a huge model's README
        fs.get_file("hf://fake-org/Big-llama/config.json", str(tmp_path / "config.json"))
    assert (tmp_path / "tl" / "Tiny-llama" / "model.safetensors").stat().st_size == \
        fake_hub.repos["fake-org/Tiny-llama"].files["model.safetensors"].size
    assert (tmp_path / "config.json").read_bytes() == fake_hub.repos["fake-org/Big-llama"].files["config.json"].read()
    # no dry run (HEAD) and no header read: only the copies themselves
    assert not [r for r in fake_hub.requests if r[0] == "HEAD" or r[2] is not None]


def test_hffs_uninstall_restores_the_methods(guarded):
    from huggingface_hub import HfFileSystem

    get_file, own = HfFileSystem.get_file, dict(vars(HfFileSystem))
    guarded.install("warn")
    assert HfFileSystem.get_file.__llmfit_guard__ and HfFileSystem.get.__llmfit_guard__
    guarded.install("block")  # again: not wrapped twice
    assert HfFileSystem.get_file.__wrapped__ is get_file
    guard.uninstall()
    assert HfFileSystem.get_file is get_file and "get" not in vars(HfFileSystem) and dict(vars(HfFileSystem)) == own


def test_hffs_planning_errors_fail_open(hf_env, guarded, tmp_path):
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem()
    guarded.install("warn")
    with pytest.warns(guard.FitWarning, match="could not plan"):
        with pytest.raises(FileNotFoundError):  # the copy's own error, unchanged
            fs.get_file("fake-org/Tiny-GGUF/nope-Q4_K_M.gguf", str(tmp_path / "x.gguf"))
    guarded.install("block", strict=True)
    with pytest.raises(guard.DownloadBlockedError, match="strict"):
        fs.get_file("fake-org/Tiny-GGUF/nope-Q4_K_M.gguf", str(tmp_path / "x.gguf"))
    # not a model repo: passed straight through, even to a strict guard (the fake hub has no datasets)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(Exception) as ei:  # the fake hub's 404 for /api/datasets, as the copy gets it
            fs.get_file("datasets/fake-org/Tiny-GGUF/tiny-Q4_K_M.gguf", str(tmp_path / "x.gguf"))
    assert not isinstance(ei.value, guard.DownloadBlockedError)
