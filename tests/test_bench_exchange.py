"""Export anonymisation and import validation/dedupe into training rows."""

from __future__ import annotations

import csv
import json
import uuid

import pytest
from click.testing import CliRunner

from llmfit_core.bench import exchange
from llmfit_core.bench.exchange import CSV_FIELDS, anonymise, export_records, import_file, validate_record
from llmfit_core.errors import BenchError

SECRET_STRINGS = ("/home/alice", "alice-laptop", "alice", "secret-model-name")


def local_record(**over):
    """A local record as the store holds it, salted with things that must not be exported."""
    r = {
        "version": 1, "id": uuid.uuid4().hex, "timestamp": "2026-11-29T15:00:00+00:00", "source": "local",
        "hardware_fingerprint": "0123456789abcdef",
        "hardware": {"cpu_model": "AMD EPYC", "cpu_cores": 2, "cpu_threads": 2, "cpu_arch": "x86_64",
                     "cpu_isa": ["avx2"], "ram_gb": 23.5, "os": "Linux", "hostname": "alice-laptop",
                     "gpus": [{"vendor": "nvidia", "name": "RTX 4090", "vram_gb": 24, "uuid": "GPU-1234"}]},
        "model": {"arch": "llama", "params": 1_235_814_400, "active_params": 1_235_814_400, "n_layers": 16,
                  "hidden_size": 2048, "n_heads": 32, "n_kv_heads": 8, "head_dim": 64, "vocab_size": 128256,
                  "max_context": 131072, "weight_bytes": 800_000_000,
                  "quant": "Q4_K_M", "file_bytes": 807_694_464, "files": ["/home/alice/models/secret-model-name.gguf"],
                  "ref": "/home/alice/models/secret-model-name.gguf", "metadata": {"general.name": "secret-model-name"}},
        "settings": {"pp": 512, "tg": 128, "repeats": 3, "threads": 2, "n_ctx": 640, "user": "alice"},
        "results": {"pp": {"test": "pp512", "n_tokens": 512, "tok_s": 48.5, "tok_s_std": 1.0, "seconds": [1, 1, 1]},
                    "tg": {"test": "tg128", "n_tokens": 128, "tok_s": 12.25, "tok_s_std": 0.2, "seconds": [1, 1, 1]}},
        "peak_rss_bytes": 900_000_000, "prediction": {"pp_tok_s": 50.0, "tg_tok_s": 13.0, "backend": "x"},
        "runtime": {"name": "llama.cpp-cpu", "llama_cpp_python": "0.3.36", "cwd": "/home/alice"},
        "path": "/home/alice/models/secret-model-name.gguf",
    }
    r.update(over)
    return r


def test_export_has_no_names_or_paths(tmp_path):
    out = tmp_path / "share.json"
    assert export_records([local_record(), local_record()], out) == 2
    text = out.read_text()
    for s in SECRET_STRINGS:
        assert s not in text
    doc = json.loads(text)
    assert doc["format"] == exchange.EXPORT_FORMAT and len(doc["records"]) == 2
    rec = doc["records"][0]
    assert rec["model"]["params"] == 1_235_814_400 and rec["model"]["quant"] == "Q4_K_M"
    assert rec["results"]["tg"]["tok_s"] == 12.25 and "seconds" not in rec["results"]["tg"]
    assert rec["hardware"]["gpus"] == [{"vendor": "nvidia", "name": "RTX 4090", "vram_gb": 24}]
    assert rec["timestamp"] == "2026-11-29"


def test_export_scrubs_path_like_strings_in_kept_fields():
    a = anonymise(local_record(model={"arch": "/home/alice/x", "params": 10, "quant": "Q4_0"}))
    assert a["model"]["arch"] is None


def test_export_skips_invalid_records(tmp_path):
    bad = local_record()
    bad["results"] = {}
    assert export_records([bad, local_record()], tmp_path / "x.json") == 1


def _export(tmp_path, records, name="share.json"):
    p = tmp_path / name
    export_records(records, p)
    return p


def test_import_merges_dedupes_and_writes_public_rows(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    recs = [local_record(), local_record()]
    r1 = import_file(_export(tmp_path, recs), data)
    assert (r1.added, r1.duplicates, r1.rejected, r1.total) == (2, 0, [], 2)
    r2 = import_file(_export(tmp_path, recs + [local_record()], "second.json"), data)
    assert (r2.added, r2.duplicates, r2.total) == (1, 2, 3)
    with open(r2.rows_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == CSV_FIELDS
    assert len(rows) == 6  # pp + tg per record
    tg = [r for r in rows if r["test"] == "tg128"][0]
    assert float(tg["tok_s"]) == 12.25 and tg["quant"] == "Q4_K_M" and float(tg["params_b"]) == pytest.approx(1.2358)
    assert tg["backend"] == "CPU" and "RTX 4090" in tg["device"]


def test_import_rejects_bad_records_with_reasons(tmp_path):
    good = anonymise(local_record())
    neg = anonymise(local_record())
    neg["results"]["tg"]["tok_s"] = -3
    badid = anonymise(local_record())
    badid["id"] = "../../etc"
    pathy = anonymise(local_record())
    pathy["hardware"]["cpu_model"] = "/home/bob/cpu"
    p = tmp_path / "mixed.json"
    p.write_text(json.dumps({"format": exchange.EXPORT_FORMAT, "version": 1, "records": [good, neg, badid, pathy, 5]}))
    r = import_file(p, tmp_path)
    assert r.added == 1
    assert len(r.rejected) == 4
    assert "tok_s" in r.rejected[0] and "id" in r.rejected[1] and "path" in r.rejected[2]


@pytest.mark.parametrize("content,msg", [
    ("not json", "not a JSON"),
    (json.dumps({"records": []}), "not an llmfit bench export"),
    (json.dumps({"format": exchange.EXPORT_FORMAT, "version": 99, "records": []}), "version"),
    (json.dumps({"format": exchange.EXPORT_FORMAT, "version": 1, "records": {}}), "must be a list"),
])
def test_import_rejects_bad_files(tmp_path, content, msg):
    p = tmp_path / "in.json"
    p.write_text(content)
    with pytest.raises(BenchError, match=msg):
        import_file(p, tmp_path)


def test_import_refuses_oversized_file(tmp_path, monkeypatch):
    monkeypatch.setattr(exchange, "MAX_IMPORT_BYTES", 100)
    p = tmp_path / "big.json"
    p.write_text(" " * 200)
    with pytest.raises(BenchError, match="refused"):
        import_file(p, tmp_path)


def test_validate_record_accepts_export_output():
    assert validate_record(anonymise(local_record())) is None


def test_cli_data_import_one_line_error(tmp_path, monkeypatch):
    from llmfit_core.cli.main import cli

    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    res = CliRunner().invoke(cli, ["data", "import", str(tmp_path / "missing.json")])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    err = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("llmfit: error: no such file")


def test_cli_export_then_import(tmp_path, monkeypatch):
    from llmfit_core.bench.store import append_record
    from llmfit_core.cli.main import cli

    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path))
    append_record(local_record())
    out = tmp_path / "share.json"
    res = CliRunner().invoke(cli, ["bench", "--export", str(out)])
    assert res.exit_code == 0, res.output
    assert "exported 1" in res.output and "/home/alice" not in out.read_text()
    res = CliRunner().invoke(cli, ["data", "import", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["added"] == 1


def test_imported_records_are_training_rows(tmp_path):
    data = pytest.importorskip("training.data")
    r = import_file(_export(tmp_path, [local_record(), local_record()]), tmp_path)
    report = data.LoadReport()
    rows = data.record_rows(tmp_path / exchange.IMPORTED_NAME, report)
    assert r.added == 2 and len(rows) == 4 and not report.skipped
    assert sorted((row.test, row.tok_s) for row in rows) == [("pp", 48.5)] * 2 + [("tg", 12.25)] * 2
