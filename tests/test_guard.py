"""The Python download guard against the fake Hub (real huggingface_hub functions, wrapped)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

hh = pytest.importorskip("huggingface_hub")

from llmfit_core import guard  # noqa: E402
from llmfit_core.errors import LlmfitError  # noqa: E402

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


def _said(err: str) -> list[str]:
    """llmfit's own stderr lines (tqdm's progress bars, drawn with \\r, left out)."""
    return [line for line in re.split(r"[\r\n]", err) if line.startswith("llmfit")]


def _cached(cache, repo, name):
    return list((cache / f"models--{repo.replace('/', '--')}").glob(f"snapshots/*/{name}"))


def test_block_raises_before_any_weight_byte(hf_env, fake_hub, guarded):
    guarded.install("block")
    f = fake_hub.repos["fake-org/Huge-GGUF"].files["huge-Q4_K_M.gguf"]
    with pytest.raises(guard.DownloadBlockedError) as ei:
        hh.hf_hub_download("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf")
    assert "does not fit" in str(ei.value)
    from huggingface_hub.file_download import hf_hub_download

    with pytest.raises(guard.DownloadBlockedError):
        hf_hub_download(repo_id="fake-org/Huge-GGUF", filename="huge-Q4_K_M.gguf")
    with pytest.raises(guard.DownloadBlockedError):
        hh.snapshot_download("fake-org/Huge-GGUF", allow_patterns=["*Q8_0*"])
    assert fake_hub.served("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf") <= 2 * (len(f.head) + SLACK)
    assert not _cached(hf_env["cache"], "fake-org/Huge-GGUF", "huge-Q4_K_M.gguf")


# The names below were taken before any install(), as a script's `from huggingface_hub import ...` at the
# top takes them (this test module imported huggingface_hub before the guard existed). tiny_box makes the
# small fake models too big, so a guard that fails to stop one of these costs a few MB, not 40 GB.
EARLY_HF_HUB_DOWNLOAD = hh.hf_hub_download
EARLY_SNAPSHOT_DOWNLOAD = hh.snapshot_download


def test_functions_imported_before_install_are_checked(hf_env, fake_hub, guarded, tiny_box):
    guarded.install("block", hardware=tiny_box)
    calls = [lambda: EARLY_HF_HUB_DOWNLOAD("fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf"),
             lambda: EARLY_SNAPSHOT_DOWNLOAD("fake-org/Tiny-GGUF", allow_patterns=["*Q8_0*"]),
             lambda: hh.HfApi().hf_hub_download("fake-org/Tiny-GGUF", "tiny-Q8_0.gguf"),
             lambda: hh.HfApi().snapshot_download("fake-org/Tiny-GGUF")]
    for call in calls:
        with pytest.raises(guard.DownloadBlockedError, match="does not fit"):
            call()
    for name in ("tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf"):
        assert not _weight_gets(fake_hub, "fake-org/Tiny-GGUF", name)
        assert not _cached(hf_env["cache"], "fake-org/Tiny-GGUF", name)
    assert hh.hf_hub_download is EARLY_HF_HUB_DOWNLOAD  # the same objects: nothing was swapped under the names
    guard.uninstall()
    path = EARLY_HF_HUB_DOWNLOAD("fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")  # restored: downloads as before
    assert os.path.getsize(path) == fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q4_K_M.gguf"].size


def test_dry_run_is_checked_and_prints_the_verdict(hf_env, fake_hub, guarded, tiny_box, capsys):
    guarded.install("block", hardware=tiny_box)
    info = EARLY_HF_HUB_DOWNLOAD("fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf", dry_run=True)  # never raises
    assert info.will_download and info.filename == "tiny-Q4_K_M.gguf"
    (line,) = _said(capsys.readouterr().err)
    assert line.startswith("llmfit: dry run: fake-org/Tiny-GGUF") and "no-fit" in line
    infos = EARLY_SNAPSHOT_DOWNLOAD("fake-org/Tiny-GGUF", dry_run=True)
    assert sorted(i.filename for i in infos if i.filename.endswith(".gguf")) == ["tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf"]
    (line,) = _said(capsys.readouterr().err)  # one check for the whole set
    assert "tiny-Q8_0" in line and "tiny-Q4_K_M" in line
    assert not _weight_gets(fake_hub, "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    guarded.install("block")  # this machine: it fits, and a dry run says so too
    EARLY_HF_HUB_DOWNLOAD("fake-org/Tiny-GGUF", "tiny-Q8_0.gguf", dry_run=True)
    (line,) = _said(capsys.readouterr().err)
    assert line.startswith("llmfit: dry run: fake-org/Tiny-GGUF") and "runs" in line


def test_a_download_that_fits_says_so_in_one_line(hf_env, guarded, capsys):
    guarded.install("block")
    path = EARLY_HF_HUB_DOWNLOAD("fake-org/Tiny-GGUF", "tiny-Q8_0.gguf")
    (line,) = _said(capsys.readouterr().err)
    assert line.startswith("llmfit: fits: fake-org/Tiny-GGUF") and os.path.exists(path)
    EARLY_HF_HUB_DOWNLOAD("fake-org/Tiny-GGUF", "tiny-Q8_0.gguf")  # cached: not checked, nothing said
    EARLY_HF_HUB_DOWNLOAD("fake-org/Tiny-llama", "config.json")  # not a weight file: nothing to say
    assert _said(capsys.readouterr().err) == []


def test_bypass_and_force_are_honoured_and_said(hf_env, fake_hub, guarded, tiny_box, monkeypatch, capsys):
    guarded.install("block", hardware=tiny_box)
    monkeypatch.setenv("LLMFIT_BYPASS", "1")
    path = EARLY_SNAPSHOT_DOWNLOAD("fake-org/Tiny-GGUF", allow_patterns=["*Q4_K_M*"])
    (line,) = _said(capsys.readouterr().err)
    assert "bypassed (LLMFIT_BYPASS=1)" in line and "fake-org/Tiny-GGUF" in line
    assert os.path.exists(os.path.join(path, "tiny-Q4_K_M.gguf"))
    assert not [r for r in fake_hub.requests if r[2] is not None]  # no check: no header read
    monkeypatch.delenv("LLMFIT_BYPASS")
    monkeypatch.setenv("LLMFIT_FORCE", "1")
    path = EARLY_HF_HUB_DOWNLOAD("fake-org/Tiny-GGUF", "tiny-Q8_0.gguf")
    (line,) = _said(capsys.readouterr().err)
    assert "does not fit" in line and "downloading anyway (LLMFIT_FORCE=1)" in line
    assert os.path.getsize(path) == fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q8_0.gguf"].size


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


def test_install_is_lazy_and_uninstall_restores(hf_env, guarded):
    from llmfit_core import patching

    code = EARLY_HF_HUB_DOWNLOAD.__code__
    guarded.install("block")
    assert guard.installed_mode() == "block" and EARLY_HF_HUB_DOWNLOAD.__code__ is not code
    assert patching.diversion_of(EARLY_HF_HUB_DOWNLOAD) is not None
    patched = list(guard._guard.diversions)
    guarded.install("warn")  # again: the same diversions, a new mode
    assert guard.installed_mode() == "warn" and guard._guard.diversions == patched
    guard.uninstall()
    assert EARLY_HF_HUB_DOWNLOAD.__code__ is code and guard.installed_mode() is None
    assert patching.diversion_of(EARLY_HF_HUB_DOWNLOAD) is None
    # install() imports nothing: huggingface_hub's modules are patched when they load
    res = subprocess.run([sys.executable, "-c", "import sys, llmfit_core.guard as g; g.install('block'); "
                          "print(any(m.startswith('huggingface_hub') for m in sys.modules)); "
                          "from huggingface_hub import hf_hub_download as f; from llmfit_core import patching; "
                          "print(patching.diversion_of(f) is not None)"], capture_output=True, text=True, timeout=60)
    assert res.stdout.split() == ["False", "True"], res.stderr


def test_llama_from_pretrained_is_guarded(hf_env, fake_hub, guarded, tiny_box):
    llama_cpp = pytest.importorskip("llama_cpp")
    guarded.install("block", hardware=tiny_box)
    with pytest.raises(guard.DownloadBlockedError):
        llama_cpp.Llama.from_pretrained("fake-org/Tiny-GGUF", "*Q4_K_M.gguf")
    assert not _weight_gets(fake_hub, "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")


@pytest.mark.parametrize("module,attr,call", [
    ("mlx_lm.utils", "snapshot_download", lambda f: f("fake-org/Tiny-GGUF", allow_patterns=["*Q4_K_M*"])),
    ("transformers.utils.hub", "hf_hub_download", lambda f: f("fake-org/Tiny-llama", "model.safetensors")),
])
def test_names_consumer_modules_imported_earlier_are_checked(hf_env, fake_hub, guarded, monkeypatch, tiny_box,
                                                             module, attr, call):
    import types

    fake = types.ModuleType(module)
    setattr(fake, attr, getattr(hh, attr))  # `from huggingface_hub import NAME` at import time, as they do
    monkeypatch.setitem(sys.modules, module, fake)  # the real modules import mlx / torch-free transformers (slow)
    guarded.install("block", hardware=tiny_box)
    with pytest.raises(guard.DownloadBlockedError):
        call(getattr(fake, attr))
    assert not [r for r in fake_hub.requests if r[0] == "GET" and r[2] is None and "/resolve/" in r[1]
                and r[1].endswith((".gguf", ".safetensors"))]


def test_autoinstall_is_opt_in(monkeypatch, guarded, capsys):
    monkeypatch.delenv("LLMFIT_GUARD", raising=False)
    assert guard.autoinstall() is None and guard.installed_mode() is None
    monkeypatch.setenv("LLMFIT_GUARD", "sometimes")
    assert guard.autoinstall() is None and "not warn|block" in capsys.readouterr().err
    monkeypatch.setenv("LLMFIT_GUARD", "block")
    assert guard.autoinstall() == "block" and guard.installed_mode() == "block"
    with pytest.raises(LlmfitError):
        guard.install("explode")


def test_python_m_guard_runs_a_script_unchanged(hf_env, tmp_path, tiny_box):
    script = tmp_path / "s.py"
    script.write_text("import sys\nfrom huggingface_hub import hf_hub_download\n"
                      "print(hf_hub_download('fake-org/Tiny-GGUF', 'tiny-Q4_K_M.gguf'))\n")
    res = subprocess.run([sys.executable, "-m", "llmfit_core.guard", "--block", str(script)],
                         env=dict(hf_env["env"], LLMFIT_HARDWARE=tiny_box), capture_output=True, text=True, timeout=120)
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

    from llmfit_hf import targets

    seen = []
    real = targets.check_plan
    monkeypatch.setattr(targets, "check_plan", lambda repo, planned, **kw: seen.append(
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

    from llmfit_core import patching

    get_file, code, own = HfFileSystem.get_file, HfFileSystem.get_file.__code__, dict(vars(HfFileSystem))
    guarded.install("warn")
    assert patching.diversion_of(get_file) is not None and HfFileSystem.get.__llmfit_guard__
    guarded.install("block")  # again: not wrapped twice
    assert HfFileSystem.get_file is get_file and HfFileSystem.get.__wrapped__ is vars(HfFileSystem.__mro__[1])["get"]
    guard.uninstall()
    assert get_file.__code__ is code and patching.diversion_of(get_file) is None
    assert "get" not in vars(HfFileSystem) and dict(vars(HfFileSystem)) == own


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


# ---- the start-up hook: LLMFIT_GUARD=block python script.py ------------------------------------------

REPO = Path(__file__).resolve().parent.parent
PTH = REPO / "llmfit_guard.pth"


@pytest.fixture
def startup_env(hf_env, tmp_path, tiny_box):
    """An interpreter whose start-up runs the shipped llmfit_guard.pth (from a user site directory, the way
    site-packages runs it after `pip install`), pointed at the fake Hub; tiny_box makes Tiny-GGUF too big."""
    base = tmp_path / "userbase"
    # this tree on sys.path: Python runs a user site's .pth files before site-packages' ones, so under an editable
    # install (its finder is registered by a site-packages .pth) llmfit_core would not be importable yet
    env = dict(hf_env["env"], PYTHONUSERBASE=str(base), LLMFIT_HARDWARE=tiny_box,
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "plugins")]))
    for k in ("PYTHONNOUSERSITE", "LLMFIT_GUARD", "LLMFIT_BYPASS", "LLMFIT_FORCE", "LLMFIT_STRICT"):
        env.pop(k, None)
    site_dir = subprocess.run([sys.executable, "-c", "import site; print(site.getusersitepackages())"], env=env,
                              capture_output=True, text=True, timeout=60).stdout.strip()
    os.makedirs(site_dir)
    (Path(site_dir) / PTH.name).write_bytes(PTH.read_bytes())
    script = tmp_path / "plain.py"
    script.write_text("import os, sys\nfrom huggingface_hub import hf_hub_download\n"
                      "print(os.path.getsize(hf_hub_download('fake-org/Tiny-GGUF', 'tiny-Q4_K_M.gguf')))\n")
    return env, str(script)


def _run(argv, env):
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def test_plain_script_is_guarded_by_the_startup_hook(startup_env, fake_hub, hf_env):
    env, script = startup_env
    size = fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q4_K_M.gguf"].size
    res = _run([sys.executable, script], dict(env, LLMFIT_GUARD="block"))
    assert res.returncode == 3 and res.stdout == "", res.stderr
    (line,) = res.stderr.splitlines()  # one line, no traceback
    assert line.startswith("llmfit: fake-org/Tiny-GGUF does not fit") and "tiny-box" in line
    assert not _cached(hf_env["cache"], "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    assert not _weight_gets(fake_hub, "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    res = _run([sys.executable, script], dict(env, LLMFIT_GUARD="warn"))
    assert res.returncode == 0 and int(res.stdout) == size and "FitWarning" in res.stderr


def test_startup_hook_bypass_force_and_off(startup_env, fake_hub):
    env, script = startup_env
    size = fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q4_K_M.gguf"].size
    res = _run([sys.executable, script], dict(env, LLMFIT_GUARD="block", LLMFIT_FORCE="1"))
    assert res.returncode == 0 and int(res.stdout) == size, res.stderr
    (line,) = res.stderr.splitlines()
    assert "does not fit" in line and "LLMFIT_FORCE=1" in line
    res = _run([sys.executable, script], dict(env, LLMFIT_GUARD="block", LLMFIT_BYPASS="1"))
    assert res.returncode == 0 and int(res.stdout) == size, res.stderr
    (line,) = res.stderr.splitlines()
    assert "bypassed (LLMFIT_BYPASS=1)" in line and "tiny-Q4_K_M.gguf" in line
    res = _run([sys.executable, script], env)  # no LLMFIT_GUARD: nothing happens (the file is cached by now)
    assert res.returncode == 0 and res.stderr == ""


def test_startup_hook_is_cheap_and_never_breaks_startup(startup_env, tmp_path):
    env, _ = startup_env
    probe = "import sys; print(sorted(m for m in ('llmfit_core', 'huggingface_hub') if m in sys.modules))"
    assert _run([sys.executable, "-c", probe], env).stdout.strip() == "[]"  # off: imports nothing
    on = _run([sys.executable, "-c", probe], dict(env, LLMFIT_GUARD="block"))
    assert on.stdout.strip() == "['llmfit_core']" and on.stderr == ""  # on: huggingface_hub is patched when it loads
    # a value that is not a mode: said once, when the program imports huggingface_hub (other programs stay quiet)
    res = _run([sys.executable, "-c", "print('ran')"], dict(env, LLMFIT_GUARD="sometimes"))
    assert res.stdout.strip() == "ran" and res.stderr == ""
    res = _run([sys.executable, "-c", "import huggingface_hub.file_download, huggingface_hub; print('ran')"],
               dict(env, LLMFIT_GUARD="sometimes"))
    assert res.stdout.strip() == "ran" and len(res.stderr.splitlines()) == 1 and "not warn|block" in res.stderr
    # python -m llmfit_core.guard under the hook: its own rules, one line, no runpy warning about an early import
    script = Path(env["PYTHONUSERBASE"]).parent / "hi.py"
    script.write_text("print('hi')\n")
    res = _run([sys.executable, "-m", "llmfit_core.guard", str(script)], dict(env, LLMFIT_GUARD="sometimes"))
    assert res.stdout == "hi\n" and res.stderr.splitlines() == [
        "llmfit: warning: LLMFIT_GUARD='sometimes' is not warn|block|auto; using warn"]
    site_dir = next(Path(env["PYTHONUSERBASE"]).rglob(PTH.name)).parent  # a second copy of the hook (two installs)
    (site_dir / ("zz_" + PTH.name)).write_bytes(PTH.read_bytes())
    broken = tmp_path / "broken"
    (broken / "llmfit_core").mkdir(parents=True)
    (broken / "llmfit_core" / "__init__.py").write_text("raise RuntimeError('half-removed install')\n")
    res = _run([sys.executable, "-c", "print('ran')"],
               dict(env, LLMFIT_GUARD="block", PYTHONPATH=f"{broken}:{env.get('PYTHONPATH', '')}"))
    assert res.returncode == 0 and res.stdout.strip() == "ran"
    (line,) = res.stderr.splitlines()  # one warning, however many copies of the hook run
    assert line.startswith("llmfit: warning:") and "half-removed install" in line


def test_startup_hook_waits_for_a_later_pth_that_makes_llmfit_importable(startup_env, fake_hub):
    """A copy of the hook that runs before the package is importable (a user site's .pth runs before the editable
    finder that a site-packages .pth registers) leaves the start to a later copy instead of failing the guard."""
    env, script = startup_env
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    site_dir = next(Path(env["PYTHONUSERBASE"]).rglob(PTH.name)).parent
    (site_dir / "zz_path.pth").write_text(f"{REPO}\n{REPO / 'plugins'}\n")  # what a later finder would do
    (site_dir / ("zzz_" + PTH.name)).write_bytes(PTH.read_bytes())
    res = _run([sys.executable, script], dict(env, LLMFIT_GUARD="block"))
    assert res.returncode == 3 and res.stdout == "", res.stderr
    (line,) = res.stderr.splitlines()
    assert line.startswith("llmfit: fake-org/Tiny-GGUF does not fit"), line


def test_startup_triggers_include_every_runner_the_autopilot_guards():
    from llmfit_core import autopilot, guard_startup

    assert set(autopilot.RUNNER_MODULES) | {"huggingface_hub"} == set(guard_startup.TRIGGERS)


def test_the_package_ships_the_startup_hook(tmp_path):
    """The wheel and the editable install (what `pip install` / `pip install -e .` use) carry llmfit_guard.pth."""
    import shutil
    import zipfile

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", PTH.name):
        shutil.copy(REPO / name, src / name)
    for name in ("llmfit_core", "plugins", "weights"):
        shutil.copytree(REPO / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    code = ("from setuptools import build_meta as b; import sys; "
            "open('built.txt', 'w').write(b.build_wheel('dist') + ' ' + b.build_editable('dist'))")
    res = subprocess.run([sys.executable, "-c", code], cwd=src, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    for wheel in (src / "built.txt").read_text().split():
        with zipfile.ZipFile(src / "dist" / wheel) as z:
            assert z.read(PTH.name) == PTH.read_bytes(), wheel
    line = PTH.read_text().strip()
    assert PTH.read_text().count("\n") == 1 and line.startswith("import os;")  # one line, run by site.py
