"""`llmfit hf ...` and `hf fit ...` against the fake Hub, with the real `hf` CLI doing the downloads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("huggingface_hub")

from llmfit_core.cli.main import cli  # noqa: E402

SLACK = 1 << 20
TINY_BOX = {"name": "tiny-box", "cpu": {"model": "x", "cores": 2, "threads": 2, "isa": ["avx2"], "mem_bandwidth_gbs": 20},
            "memory": {"total_gb": 0.02, "available_gb": 0.02}, "gpus": [], "unified_memory": False}


def _llmfit(env, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _cached(cache: Path, repo: str, name: str) -> list[Path]:
    return list((cache / f"models--{repo.replace('/', '--')}").glob(f"snapshots/*/{name}"))


@pytest.fixture
def tiny_box(tmp_path):
    p = tmp_path / "tiny-box.json"
    p.write_text(json.dumps(TINY_BOX))
    return str(p)


def test_ls_annotates_each_gguf_file_reading_one_header(hf_env, fake_hub):
    res = CliRunner().invoke(cli, ["hf", "ls", "fake-org/Huge-GGUF", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["quant"] for r in rows] == ["Q4_K_M", "Q8_0"]
    for r in rows:
        assert r["verdict"] == "no-fit" and r["fits"] is False
        assert r["memory_bytes"] > r["size_bytes"] * 0.9 and r["decode_tok_s"] > 0
    assert rows[0]["exact"] and not rows[1]["exact"]  # one header per repo unless --exact
    assert fake_hub.served("fake-org/Huge-GGUF", "huge-Q8_0-00001-of-00002.gguf") == 0

    res = CliRunner().invoke(cli, ["hf", "ls", "fake-org/Tiny-GGUF", "--json"])
    rows = json.loads(res.stdout)
    assert {r["verdict"] for r in rows} == {"runs"}
    assert {r["best_quant"] for r in rows} == {"Q8_0"}  # the biggest that runs


def test_ls_exact_reads_every_header(hf_env, fake_hub):
    res = CliRunner().invoke(cli, ["hf", "ls", "fake-org/Huge-GGUF", "--exact", "--json"])
    assert res.exit_code == 0, res.output
    assert all(r["exact"] for r in json.loads(res.stdout))
    head = len(fake_hub.repos["fake-org/Huge-GGUF"].files["huge-Q8_0-00001-of-00002.gguf"].head)
    assert 0 < fake_hub.served("fake-org/Huge-GGUF", "huge-Q8_0-00001-of-00002.gguf") <= head + SLACK


def test_ls_against_another_hardware_profile(hf_env, tiny_box):
    res = CliRunner().invoke(cli, ["hf", "ls", "fake-org/Tiny-GGUF", "--hardware", tiny_box, "--json"])
    rows = json.loads(res.stdout)
    assert {r["verdict"] for r in rows} == {"no-fit"} and {r["best_quant"] for r in rows} == {None}


def test_search_is_annotated_without_header_reads(hf_env, fake_hub):
    res = CliRunner().invoke(cli, ["hf", "search", "fake-org", "--limit", "10", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["repo"]: r for r in json.loads(res.stdout)}
    assert rows["fake-org/Tiny-GGUF"]["verdict"] == "runs" and rows["fake-org/Tiny-GGUF"]["best_quant"] == "Q8_0"
    assert rows["fake-org/Huge-GGUF"]["verdict"] == "no-fit"
    assert rows["fake-org/Tiny-llama"]["verdict"] == "runs" and rows["fake-org/Tiny-llama"]["best_quant"]
    assert rows["fake-org/Big-llama"]["verdict"] == "no-fit"
    gguf_bytes = sum(v for (repo, name), v in fake_hub.bytes_served.items() if name.endswith(".gguf"))
    assert gguf_bytes == 0  # quick search: sizes and config.json only


def test_search_table_output(hf_env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    res = CliRunner().invoke(cli, ["hf", "search", "Tiny-GGUF"])
    assert res.exit_code == 0, res.output
    assert "fake-org/Tiny-GGUF" in res.stdout and "runs" in res.stdout


def test_ls_gated_and_unknown_give_one_line(hf_env):
    res = CliRunner().invoke(cli, ["hf", "ls", "fake-org/Gated-GGUF"])
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1
    assert "log" in res.stderr and "Traceback" not in res.stderr
    res = CliRunner().invoke(cli, ["hf", "ls", "fake-org/nope"])
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1 and "not found" in res.stderr
    res = CliRunner().invoke(cli, ["hf", "ls", "../../etc"])
    assert res.exit_code == 1 and "not a Hugging Face repo id" in res.stderr


def test_download_that_does_not_fit_stops_after_the_header(hf_env, fake_hub):
    f = fake_hub.repos["fake-org/Huge-GGUF"].files["huge-Q4_K_M.gguf"]
    res = _llmfit(hf_env["env"], "hf", "download", "fake-org/Huge-GGUF", "huge-Q4_K_M.gguf")
    assert res.returncode == 3, res.stderr
    assert "does NOT fit" in res.stderr and "huge-Q4_K_M.gguf" in res.stderr
    assert fake_hub.served("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf") <= len(f.head) + SLACK
    assert not _cached(hf_env["cache"], "fake-org/Huge-GGUF", "huge-Q4_K_M.gguf")


def test_download_that_fits_is_passed_to_hf_and_completes(hf_env, fake_hub):
    f = fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q4_K_M.gguf"]
    res = _llmfit(hf_env["env"], "hf", "download", "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    assert res.returncode == 0, res.stderr
    assert "fits" in res.stderr
    (path,) = _cached(hf_env["cache"], "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    assert path.stat().st_size == f.size and path.read_bytes()[:4096] == f.head[:4096]
    assert str(path) in res.stdout.replace("\n", "")  # hf's own output, untouched


def test_force_and_a_snapshot_download_with_include(hf_env, fake_hub, tiny_box):
    args = ["hf", "download", "fake-org/Tiny-GGUF", "--include", "*Q8_0*", "--hardware", tiny_box]
    res = _llmfit(hf_env["env"], *args)
    assert res.returncode == 3 and "tiny-box" in res.stderr
    assert not _cached(hf_env["cache"], "fake-org/Tiny-GGUF", "tiny-Q8_0.gguf")
    res = _llmfit(hf_env["env"], *args, "--force")
    assert res.returncode == 0, res.stderr
    assert _cached(hf_env["cache"], "fake-org/Tiny-GGUF", "tiny-Q8_0.gguf")
    assert not _cached(hf_env["cache"], "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")  # --include honoured


def test_download_gated_and_unknown_repo_fail_open_unless_strict(hf_env):
    # the check cannot see the repo: one warning line, then the real `hf download` runs (and fails its own way)
    res = _llmfit(hf_env["env"], "hf", "download", "fake-org/Gated-GGUF", "gated-Q4_K_M.gguf")
    first = res.stderr.strip().splitlines()[0]
    assert res.returncode != 0 and first.startswith("llmfit: warning: fit check failed") and "log" in first
    assert not _cached(hf_env["cache"], "fake-org/Gated-GGUF", "gated-Q4_K_M.gguf")
    res = _llmfit(hf_env["env"], "hf", "download", "fake-org/nope", "x.gguf")
    first = res.stderr.strip().splitlines()[0]
    assert res.returncode != 0 and first.startswith("llmfit: warning: fit check failed") and "not found" in first
    # --strict: one line, the real command is not run
    res = _llmfit(hf_env["env"], "hf", "download", "fake-org/Gated-GGUF", "gated-Q4_K_M.gguf", "--strict")
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and "log" in res.stderr
    res = _llmfit(hf_env["env"], "hf", "download", "fake-org/nope", "x.gguf", "--strict")
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and "not found" in res.stderr


def test_predictor_failure_fails_open_unless_strict(hf_env, monkeypatch, capsys):
    from llmfit_hf import checked_download, targets

    def boom(*a, **k):
        raise RuntimeError("predictor exploded")

    monkeypatch.setattr(targets, "check_plan", boom)
    args = ["fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf"]
    assert checked_download.check_download(args) is None
    assert "warning" in capsys.readouterr().err
    assert checked_download.check_download(args, strict=True) == 1
    assert "--strict" in capsys.readouterr().err


def test_llmfit_options_are_taken_out_and_the_rest_passed_untouched():
    from llmfit_hf.checked_download import split_llmfit_options

    mine, rest = split_llmfit_options(["org/m", "a.gguf", "--force", "--hardware=x.json", "--local-dir", "d",
                                       "--context", "8k", "--force-download"])
    assert mine == {"force": True, "strict": False, "hardware": "x.json", "context": "8k"}
    assert rest == ["org/m", "a.gguf", "--local-dir", "d", "--force-download"]


def _hf_cli() -> str | None:
    """The real `hf` CLI of this Python: beside the interpreter (a venv's bin/, often not on PATH), else on PATH."""
    beside = Path(sys.executable).parent / "hf"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("hf")


def test_hf_fit_extension_registered_locally(hf_env, fake_hub, tmp_path, tiny_box):
    hf = _hf_cli()
    assert hf, "the hf CLI of huggingface_hub is not installed beside this Python nor on PATH"
    env = dict(hf_env["env"], HOME=str(tmp_path / "home"))
    res = _llmfit(env, "hf", "install-extension")
    assert res.returncode == 0, res.stderr
    manifest = tmp_path / "home" / ".local/share/hf/extensions/hf-fit/manifest.json"
    assert json.loads(manifest.read_text())["short_name"] == "fit"
    # tiny_box: a check that failed to stop it would download a few MB, not 40 GB
    res = subprocess.run([hf, "fit", "download", "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf", "--hardware", tiny_box],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 3, res.stderr
    assert "does NOT fit" in res.stderr and not _cached(hf_env["cache"], "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    res = subprocess.run([hf, "fit", "download", "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf", "--hardware", tiny_box,
                          "--dry-run"], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "llmfit: dry run: fake-org/Tiny-GGUF: does NOT fit" in res.stderr and "tiny-Q4_K_M.gguf" in res.stdout
    res = subprocess.run([hf, "fit", "download", "fake-org/Tiny-GGUF", "tiny-Q8_0.gguf"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "llmfit: fits: fake-org/Tiny-GGUF" in res.stderr
    assert _cached(hf_env["cache"], "fake-org/Tiny-GGUF", "tiny-Q8_0.gguf")
    assert os.access(manifest.parent / "hf-fit", os.X_OK)


def test_dry_run_is_checked_and_prints_the_verdict(hf_env, fake_hub, tiny_box):
    res = _llmfit(hf_env["env"], "hf", "download", "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf", "--dry-run",
                  "--hardware", tiny_box)
    assert res.returncode == 0, res.stderr
    said = [line for line in res.stderr.splitlines() if line.startswith("llmfit")]
    assert said[0].startswith("llmfit: dry run: fake-org/Tiny-GGUF: does NOT fit on tiny-box"), res.stderr
    assert "tiny-Q4_K_M.gguf" in res.stdout  # hf's own dry-run table follows
    assert not _cached(hf_env["cache"], "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    f = fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q4_K_M.gguf"]
    assert fake_hub.served("fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf") < f.size  # header reads only
    res = _llmfit(hf_env["env"], "hf", "download", "fake-org/Tiny-GGUF", "tiny-Q8_0.gguf", "--dry-run")
    assert res.returncode == 0 and "llmfit: dry run: fits: fake-org/Tiny-GGUF" in res.stderr, res.stderr


def test_search_offline_is_one_quick_line(hf_env, monkeypatch):
    import socket

    from huggingface_hub import constants

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    res = CliRunner().invoke(cli, ["hf", "search", "llama"])
    assert res.exit_code == 1
    assert "cannot reach" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_download_token_argument_is_used_for_the_check(hf_env, fake_hub):
    res = _llmfit(hf_env["env"], "hf", "download", "fake-org/Gated-GGUF", "gated-Q4_K_M.gguf", "--token", fake_hub.token)
    assert res.returncode == 0, res.stderr
    assert "fits" in res.stderr and fake_hub.token not in res.stderr + res.stdout
    assert _cached(hf_env["cache"], "fake-org/Gated-GGUF", "gated-Q4_K_M.gguf")


def test_download_arguments_parsed_like_hf_and_traversal_refused(capsys):
    from llmfit_hf.checked_download import check_download
    from llmfit_hf.predownload import parse_download_args

    d = parse_download_args(["org/m", "--include", "*.gguf", "--include=*.json", "--revision", "v1",
                             "--local-dir=x", "--force-download"])
    assert (d.repo_id, d.filenames, d.include, d.revision, d.local_dir, d.force_download) == (
        "org/m", [], ["*.gguf", "*.json"], "v1", "x", True)
    d = parse_download_args(["hf://fake-org/Tiny-GGUF/tiny-Q8_0.gguf"])
    assert (d.repo_id, d.filenames) == ("fake-org/Tiny-GGUF", ["tiny-Q8_0.gguf"])
    assert check_download(["org/m", "../../etc/passwd"]) == 2
    assert "invalid file name" in capsys.readouterr().err
    for repo in ("../x", "org/../x", "a/b/c", ".bad", "o/n!"):  # refused before any request, in one line
        assert check_download([repo, "x.gguf"]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert "is not a Hugging Face repo id" in line


def test_offline_download_of_an_uncached_file_is_one_line(hf_env, fake_hub):
    """HF_HUB_OFFLINE=1 and nothing cached: hf can only fail, so one line and exit 1 (not hf's own error after
    a warning); once the file is cached the same command goes through to hf."""
    offline = dict(hf_env["env"], HF_HUB_OFFLINE="1")
    for extra in (["--dry-run"], []):
        res = _llmfit(offline, "hf", "download", "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf", *extra)
        assert res.returncode == 1, res.stderr
        assert res.stderr.strip().splitlines() == [
            "llmfit: error: fake-org/Tiny-GGUF tiny-Q4_K_M.gguf: not in the local Hugging Face cache, and "
            "HF_HUB_OFFLINE is set (unset it to download)"]
    assert _llmfit(hf_env["env"], "hf", "download", "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf").returncode == 0
    res = _llmfit(offline, "hf", "download", "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    assert res.returncode == 0 and "tiny-Q4_K_M.gguf" in res.stdout, res.stderr
