"""Export local bench records as an anonymised shareable file, and import such files into training rows.

Export keeps a whitelist of fields (hardware facts, model facts, settings, results); nothing that names
a host, user or path survives. Import validates every record, dedupes by record id into
`imported.jsonl` in the data dir and regenerates `bench_rows.csv` in the public benchmark schema
(device, backend, model, params_b, quant, test, tok_s, n_gpu_layers_or_note) that the training reads.

Figures that were guessed are marked, never passed off as facts: `hardware.mem_bandwidth_source` says where
`hardware.mem_bandwidth_gbs` (the CPU RAM bandwidth the record's prediction used) came from: `measured`
(`llmfit system --measure-bandwidth`), `table` (the device table), `file` / `profile` (a hardware profile),
`estimated` (a guess from the core count or memory type), or null (a record written before this field:
treat the figure as possibly guessed). A GPU's `bandwidth_gbs` / `fp16_tflops` are null when only guessed.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from llmfit_core.bench.calibration import CPU_BACKEND
from llmfit_core.bench.records import SPEC_FIELDS
from llmfit_core.bench.store import append_line, read_jsonl
from llmfit_core.dirs import data_dir
from llmfit_core.errors import BenchError

EXPORT_FORMAT = "llmfit-bench-export"
EXPORT_VERSION = 1
MAX_IMPORT_BYTES = 64 << 20
MAX_RECORDS = 100_000
IMPORTED_NAME = "imported.jsonl"
ROWS_NAME = "bench_rows.csv"
CSV_FIELDS = ("device", "backend", "model", "params_b", "quant", "test", "tok_s", "n_gpu_layers_or_note")

_HW_KEYS = ("cpu_model", "cpu_cores", "cpu_threads", "cpu_arch", "cpu_isa", "mem_bandwidth_gbs", "mem_bandwidth_source",
            "ram_gb", "os")
BANDWIDTH_SOURCES = ("measured", "table", "file", "profile", "detected", "estimated")
_SETTINGS_KEYS = ("pp", "tg", "repeats", "threads", "n_ctx", "n_batch", "n_ubatch", "cache_type_k", "cache_type_v",
                  "flash_attn", "repack", "warmup", "n_gpu_layers")
_GPU_NUM_KEYS = ("vram_gb", "bandwidth_gbs", "fp16_tflops", "gpu_cores")  # numbers; compute_capability is text
_RUNTIME_KEYS = ("name", "llama_cpp_python", "device")
# backend of a record -> the public CSV's backend label (training/data.py maps these back)
_PUBLIC_BACKEND = {CPU_BACKEND: "CPU", "llama.cpp-cuda": "CUDA", "llama.cpp-metal": "Metal",
                   "llama.cpp-vulkan": "Vulkan", "llama.cpp-rocm": "ROCm", "llama.cpp-sycl": "SYCL"}
_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_FP_RE = re.compile(r"^[0-9a-f]{16}$")


def _scrub_text(value, max_len: int = 200):
    """Short plain strings only; anything path-like is dropped."""
    if not isinstance(value, str):
        return value
    if "/" in value or "\\" in value or "@" in value:
        return None
    return value[:max_len]


def anonymise(record: dict) -> dict:
    """The shareable subset of a local record (whitelisted fields, no names or paths)."""
    hw = record.get("hardware") or {}
    model = record.get("model") or {}
    out_model = {k: model.get(k) for k in SPEC_FIELDS if k in model}
    out_model["arch"] = _scrub_text(out_model.get("arch"))
    out_model["quant"] = _scrub_text(out_model.get("quant"))
    return {
        "version": record.get("version", 1),
        "id": record.get("id"),
        "timestamp": str(record.get("timestamp", ""))[:10],  # the day is enough
        "source": record.get("source") if record.get("source") in ("local", "synthetic") else "local",
        "hardware_fingerprint": record.get("hardware_fingerprint"),
        "hardware": {**{k: _scrub_text(hw.get(k)) for k in _HW_KEYS},
                     "gpus": [_gpu(g) for g in (hw.get("gpus") or []) if isinstance(g, dict)]},
        "model": out_model,
        "settings": {k: (record.get("settings") or {}).get(k) for k in _SETTINGS_KEYS},
        "results": {t: {k: v for k, v in r.items() if k in ("test", "n_tokens", "tok_s", "tok_s_std")}
                    for t, r in (record.get("results") or {}).items() if t in ("pp", "tg") and isinstance(r, dict)},
        "peak_rss_bytes": record.get("peak_rss_bytes"),
        "baseline_rss_bytes": record.get("baseline_rss_bytes"),
        "memory_estimate_bytes": record.get("memory_estimate_bytes"),
        "load_avg": record.get("load_avg"),
        "prediction": {k: v for k, v in (record.get("prediction") or {}).items() if k in ("pp_tok_s", "tg_tok_s")} or None,
        "runtime": {k: _scrub_text(v) for k, v in (record.get("runtime") or {}).items() if k in _RUNTIME_KEYS},
    }


def _gpu(g: dict) -> dict:
    """The shareable facts of one GPU: vendor, name, VRAM and, when the record has them, the figures training
    needs (bandwidth, FP16 TFLOPS, compute capability, cores; None when unknown)."""
    out = {"vendor": _scrub_text(g.get("vendor")), "name": _scrub_text(g.get("name")), "vram_gb": None}
    for k in _GPU_NUM_KEYS:
        if k in g or k == "vram_gb":
            v = g.get(k)
            out[k] = v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None
    if "compute_capability" in g:
        cc = g.get("compute_capability")
        out["compute_capability"] = _scrub_text(str(cc), 16) if cc not in (None, "") else None
    return out


def record_backend_name(r: dict) -> str:
    """The backend a record ran on: runtime.name, llama.cpp-cpu for records that do not say."""
    return str((r.get("runtime") or {}).get("name") or CPU_BACKEND)


def export_records(records: list[dict], path: str | os.PathLike) -> int:
    """Write valid records, anonymised, to `path` (JSON); returns how many were written."""
    good = []
    for r in records:
        a = anonymise(r)
        if validate_record(a) is None:
            good.append(a)
    doc = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "records": good}
    p = Path(path).expanduser()
    tmp = p.with_name(p.name + ".tmp")
    try:
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except OSError as exc:
        raise BenchError(f"cannot write {p}: {exc.strerror or exc}") from None
    return len(good)


def _pos(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def validate_record(r) -> str | None:
    """None when `r` is a usable exported record, else the reason it is not."""
    if not isinstance(r, dict):
        return "not an object"
    if not isinstance(r.get("id"), str) or not _ID_RE.match(r["id"]):
        return "missing or malformed id"
    if not isinstance(r.get("hardware_fingerprint"), str) or not _FP_RE.match(r["hardware_fingerprint"]):
        return "missing or malformed hardware_fingerprint"
    hw, model, st, res = (r.get(k) for k in ("hardware", "model", "settings", "results"))
    if not all(isinstance(x, dict) for x in (hw, model, st, res)):
        return "hardware, model, settings and results must be objects"
    if not isinstance(hw.get("cpu_model"), str) or not hw["cpu_model"]:
        return "hardware.cpu_model missing"
    if not isinstance(model.get("quant"), str) or not model["quant"]:
        return "model.quant missing"
    if not _pos(model.get("params")):
        return "model.params must be a positive number"
    if not _pos(st.get("threads")):
        return "settings.threads must be positive"
    ngl = st.get("n_gpu_layers")
    if ngl is not None and (isinstance(ngl, bool) or not isinstance(ngl, int)):
        return "settings.n_gpu_layers must be an integer"
    rt = r.get("runtime")
    if rt is not None and not isinstance(rt, dict):
        return "runtime must be an object"
    if record_backend_name(r) not in _PUBLIC_BACKEND:
        return f"unknown backend {record_backend_name(r)!r}"
    if not isinstance(hw.get("gpus", []), list):
        return "hardware.gpus must be a list"
    if hw.get("mem_bandwidth_source") not in (None, *BANDWIDTH_SOURCES):
        return f"hardware.mem_bandwidth_source must be one of {', '.join(BANDWIDTH_SOURCES)} or null"
    if not res:
        return "no results"
    for t, v in res.items():
        if t not in ("pp", "tg") or not isinstance(v, dict):
            return f"unknown result {t!r}"
        if not _pos(v.get("tok_s")) or v["tok_s"] > 1e7:
            return f"results.{t}.tok_s must be a positive number"
        if not _pos(v.get("n_tokens")):
            return f"results.{t}.n_tokens must be positive"
    # no personal data may come in through an import either
    blob = json.dumps(r)
    if re.search(r'"(?:/|[A-Za-z]:\\\\)[^"]*"', blob):
        return "contains a path"
    return None


@dataclass
class ImportResult:
    added: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)  # "record N: reason"
    rows_path: Path | None = None
    total: int = 0


def load_export(path: str | os.PathLike) -> list:
    """The records of an export file, or a BenchError saying what is wrong with the file."""
    p = Path(path).expanduser()
    try:
        size = p.stat().st_size
    except OSError:
        raise BenchError(f"no such file: {p}") from None
    if size > MAX_IMPORT_BYTES:
        raise BenchError(f"{p.name} is {size >> 20} MiB; an export larger than {MAX_IMPORT_BYTES >> 20} MiB is refused")
    try:
        with open(p, "rb") as fh:  # capped: a device reports size 0 and never ends
            raw = fh.read(MAX_IMPORT_BYTES + 1)
        if len(raw) > MAX_IMPORT_BYTES:
            raise BenchError(f"{p.name}: an export larger than {MAX_IMPORT_BYTES >> 20} MiB is refused")
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BenchError(f"{p.name} is not a JSON file") from None
    except OSError as exc:
        raise BenchError(f"cannot read {p}: {exc.strerror}") from None
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise BenchError(f"{p.name} is not an llmfit bench export (format != {EXPORT_FORMAT!r})")
    if doc.get("version") != EXPORT_VERSION:
        raise BenchError(f"{p.name} has export version {doc.get('version')!r}; this llmfit reads version {EXPORT_VERSION}")
    recs = doc.get("records")
    if not isinstance(recs, list):
        raise BenchError(f"{p.name}: 'records' must be a list")
    if len(recs) > MAX_RECORDS:
        raise BenchError(f"{p.name} has {len(recs)} records; at most {MAX_RECORDS} per file")
    return recs


def import_file(path: str | os.PathLike, directory: Path | None = None) -> ImportResult:
    """Validate an export file and merge its new records (by id) into the training data of the data dir."""
    d = directory or data_dir()
    recs = load_export(path)
    imported_path = d / IMPORTED_NAME
    seen = {r.get("id") for r in read_jsonl(imported_path)}
    res = ImportResult()
    for i, r in enumerate(recs, 1):
        why = validate_record(r)
        if why:
            res.rejected.append(f"record {i}: {why}")
            continue
        if r["id"] in seen:
            res.duplicates += 1
            continue
        append_line(imported_path, anonymise(r))
        seen.add(r["id"])
        res.added += 1
    res.rows_path = write_training_rows(read_jsonl(imported_path), d / ROWS_NAME)
    res.total = len(seen - {None})
    return res


def device_name(hw: dict) -> str:
    """A device label for training rows: GPU names when present, else the CPU model and core count."""
    gpus = [g.get("name") for g in hw.get("gpus") or [] if g.get("name")]
    if gpus:
        return " + ".join(gpus)
    return f"{hw.get('cpu_model')} ({hw.get('cpu_cores')} cores, {hw.get('ram_gb')} GB)"


def to_public_rows(r: dict) -> list[dict]:
    """The rows of one record in the public CSV schema (one per test)."""
    m, st, hw = r["model"], r["settings"], r["hardware"]
    label = f"{m.get('arch', 'model')}-{m['params'] / 1e9:.2f}b" + ("-synthetic" if r.get("source") == "synthetic" else "")
    backend = record_backend_name(r)
    offload = "CPU-only" if backend == CPU_BACKEND else f"n_gpu_layers {st.get('n_gpu_layers')}"
    note = (f"llmfit bench, {offload}, {st.get('threads')} threads, n_ctx {st.get('n_ctx')}, "
            f"repack {'on' if st.get('repack') else 'off'}, llama-cpp-python {(r.get('runtime') or {}).get('llama_cpp_python')}; "
            f"id {r['id']}")
    rows = []
    for t, v in sorted(r["results"].items()):
        rows.append({"device": device_name(hw), "backend": _PUBLIC_BACKEND[backend], "model": label,
                     "params_b": round(m["params"] / 1e9, 4), "quant": m["quant"], "test": v.get("test") or f"{t}{v['n_tokens']}",
                     "tok_s": round(float(v["tok_s"]), 3), "n_gpu_layers_or_note": note})
    return rows


def write_training_rows(records: list[dict], path: Path) -> Path:
    """(Re)write the CSV of all imported records atomically; returns its path."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in records:
            if validate_record(r) is None:
                w.writerows(to_public_rows(r))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
