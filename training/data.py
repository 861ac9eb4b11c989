"""Training rows for the throughput correction: public benchmark tables + local bench records.

Row sources
-----------
1. Public CSVs in `data/benchdata/` (schema: device, backend, model, params_b, quant, test, tok_s,
   n_gpu_layers_or_note; see data/benchdata/SOURCES.md). Device names resolve through hardware.csv
   (GPU rows; "<GPU> xN" = N GPUs in a layer split) plus CPU_FACTS below; whole-system names of the
   geerlingguy table through GEERLING_MAP. Model names resolve through training/model_configs.py.
2. Extra files given with `--extra` (or `extra=` here):
   - CSV in the same public schema (rows whose device/model we cannot resolve are skipped and counted), or
   - JSONL of `llmfit bench` records (llmfit_core/bench/records.py: {"hardware": summary, "model": facts,
     "settings": {...threads, n_ctx, n_gpu_layers...}, "results": {"pp": {"test", "n_tokens", "tok_s"}, "tg": ...},
     "runtime": {"name": backend}}), which carry their own hardware and model facts. Optional per-line key
     "weight" (default 1). A record whose runtime is a llama.cpp GPU backend (`llmfit bench --gpu-layers N`)
     becomes rows of that backend on its GPUs, with the predictor's placement for its offloaded layers;
     every other record (older ones have no runtime name) is a llama.cpp CPU run.

Every row becomes a `Row` (spec, hardware, backend, placement, test settings, measured tok/s, weight,
group = physical device for leave-devices-out evaluation).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from llmfit_core.errors import LlmfitError
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo
from training.model_configs import ALIASES, ARCHS, build_spec

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "data" / "benchdata"

PUBLIC_FILES = {
    "xiongjiedai_gpu_benchmarks.csv": 1.0,
    "llamacpp_discussion_4167_apple_silicon.csv": 1.0,
    "cpu_llamabench_github_issues.csv": 1.0,
    "mlx_github_issues.csv": 1.0,
    "geerlingguy_ai_benchmarks_readme.csv": 0.5,  # Ollama default quant and placement not stated
    "secondary_llamacpp_scoreboards_unverified.csv": 0.3,  # secondary transcription: low weight
}

# CPU facts of the CPU devices in hardware.csv (public spec sheets): cores, threads, arch, ISA, P/E cores.
CPU_FACTS = {
    "Intel Core i9-13900K": dict(cores=24, threads=32, arch="x86_64", isa=["avx2", "fma", "avx_vnni"], p_cores=8, e_cores=16),
    "Intel Xeon W-3245 (Mac Pro 2019 16-core)": dict(cores=16, threads=32, arch="x86_64", isa=["avx2", "fma", "avx512f", "avx512_vnni"]),
    "Intel Core i5-4278U": dict(cores=2, threads=4, arch="x86_64", isa=["avx2", "fma"]),
    "Intel Core i3-1315U (Framework 12)": dict(cores=6, threads=8, arch="x86_64", isa=["avx2", "fma", "avx_vnni"], p_cores=2, e_cores=4),
    "Raspberry Pi 5 16GB": dict(cores=4, threads=4, arch="arm64", isa=["neon", "dotprod"]),
    "Raspberry Pi 5 8GB": dict(cores=4, threads=4, arch="arm64", isa=["neon", "dotprod"]),
    "Raspberry Pi 400 4GB": dict(cores=4, threads=4, arch="arm64", isa=["neon"]),
    "AmpereOne A192-32X": dict(cores=192, threads=192, arch="arm64", isa=["neon", "dotprod", "i8mm"]),
    "Intel N150 (GMKtec G3 Plus)": dict(cores=4, threads=4, arch="x86_64", isa=["avx2", "fma"], p_cores=0, e_cores=4),
    "Cix CP8180 (MetaComputing Framework 13 mainboard)": dict(cores=12, threads=12, arch="arm64", isa=["neon", "dotprod", "i8mm"]),
    "Apple M2 Max (CPU cores)": dict(cores=12, threads=12, arch="arm64", isa=["neon", "dotprod", "i8mm"], p_cores=8, e_cores=4, apple=True),
}
# Apple SoC CPU clusters (P + E cores) by chip tier, the most common configuration of each tier.
APPLE_CPU = {
    "M1": (4, 4), "M1 Pro": (8, 2), "M1 Max": (8, 2), "M1 Ultra": (16, 4),
    "M2": (4, 4), "M2 Pro": (8, 4), "M2 Max": (8, 4), "M2 Ultra": (16, 8),
    "M3": (4, 4), "M3 Pro": (6, 6), "M3 Max": (12, 4), "M3 Ultra": (24, 8),
    "M4": (4, 6), "M4 Pro": (10, 4), "M4 Max": (12, 4),
}
# geerlingguy whole-system names -> (hardware.csv device, GPU used?). Systems whose GPU/CPU is not in
# hardware.csv (W7700, RX 6700 XT, RX 7600, RX 6500 XT, RX 580, A400, A2000, Arc Pro B50, A310, RTX 4070,
# 4070 Ti Super, RISC-V boards, Q8400, Orion O6, MS-R1, Ryzen AI 340, clusters) are skipped.
GEERLING_MAP = [
    (r"\((?:Nvidia )?(?:RTX )?5090\)", "RTX 5090"),
    (r"\((?:Nvidia )?(?:RTX )?4090\)", "RTX 4090"),
    (r"\((?:Nvidia )?(?:RTX )?4080\)", "RTX 4080"),
    (r"\((?:Nvidia )?RTX 4070 Ti\)", "RTX 4070 Ti"),
    (r"\((?:Nvidia )?RTX 3080 Ti\)", "RTX 3080 Ti"),
    (r"\((?:Nvidia )?RTX 3060\)", "RTX 3060"),
    (r"\((?:Nvidia )?RTX 2080 Ti\)", "RTX 2080 Ti"),
    (r"\((?:Nvidia )?(?:RTX )?A4000\)", "RTX A4000"),
    (r"\(AMD (?:RX )?7900 XT\)", "RX 7900 XT"),
    (r"\(AMD RX 9070 XT\)", "RX 9070 XT"),
    (r"R9700\)", "Radeon AI PRO R9700"),
    (r"\(Intel Arc B580\)", "Arc B580"),
    (r"GB10 \(Nvidia Spark\)", "DGX Spark (GB10)"),
    (r"^Mac Studio \(M3 Ultra 512GB\)", "Apple M3 Ultra (80-core GPU)"),
    (r"^M1 Ultra \(48 GPU Core\)", "Apple M1 Ultra (48-core GPU)"),
    (r"^M4 Mac mini \(10 core", "Apple M4 (10-core GPU)"),
    (r"^Framework (?:Desktop )?Mainboard \((?:128GB|395\+)\)", "AMD Ryzen AI Max+ 395 (Radeon 8060S)"),
    (r"^Pi 5 - 16GB$", "Raspberry Pi 5 16GB"),
    (r"^Pi 5 - 8GB$", "Raspberry Pi 5 8GB"),
    (r"^Pi 400 - 4GB$", "Raspberry Pi 400 4GB"),
    (r"^AmpereOne A192-32X", "AmpereOne A192-32X"),
    (r"^GMKte[kc] G3 Plus \(Intel N150\)", "Intel N150 (GMKtec G3 Plus)"),
]
# MLX rows name the chip without its GPU core count: the top configuration is assumed (documented).
MLX_DEVICE = {"Apple M2 Ultra": "Apple M2 Ultra (76-core GPU)", "Apple M4 Max": "Apple M4 Max (40-core GPU)",
              "Apple M3 Ultra (256GB)": "Apple M3 Ultra (60-core GPU)"}
# geerlingguy host systems of the external GPUs: a Raspberry Pi host (PCIe x1, 4x Cortex-A76) limits the GPU
GEERLING_PI_HOST = re.compile(r"^Pi (?:CM5|5|500\+)(?=\s)")
ASSUMED_QUANT_LABELS = ("ollama-default", "unspecified")  # labels `_quant` maps to an assumed quantization
OLLAMA_DEFAULT_QUANT = {"gpt-oss-20b": "MXFP4_MOE"}  # Ollama tags: everything else here is Q4_K_M


@dataclass
class Row:
    source: str
    device: str  # physical device (CV group)
    spec: object
    hardware: HardwareProfile
    backend: str  # llmfit_core.backends name
    test: str  # pp | tg
    prompt_tokens: int
    decode_pos: float
    tok_s: float
    weight: float = 1.0
    threads: int | None = None
    bench_kind: int = 0  # 0 llama-bench, 1 llama.cpp ./main, 2 Ollama
    placement: dict | None = None
    note: str = ""
    quant_assumed: bool = False  # the source does not state the quantization (Ollama default tag, "unspecified")
    depth: int = 0  # tokens already in the context (llama-bench -d)
    flash_attn: bool = False  # llama-bench -fa 1 (off is llama-bench's default)
    model_ref: str = ""  # what the model was mapped to (catalog ref / training arch)
    n_gpus: int = 0  # GPUs of a layer split as the row names them ("... xN")
    test_label: str = ""  # the row's test as printed (pp2048@d16384)
    backend_label: str = ""  # the row's backend column as printed
    n_ubatch: int = 512  # llama-bench -ub (micro-batch of prompt processing)
    n_batch: int = 2048  # llama-bench -b (the batch a layer split pipelines)


@dataclass
class LoadReport:
    used: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)


def load_hardware_table(path: Path | None = None) -> dict[str, dict]:
    """hardware.csv as {device: row}."""
    with open(path or DATA_DIR / "hardware.csv", newline="") as fh:
        return {r["device"]: r for r in csv.DictReader(fh)}


def _num(x):
    try:
        return float(x) if x not in (None, "") else None
    except ValueError:
        return None


def _apple_tier(device: str) -> str | None:
    m = re.match(r"Apple (M\d(?: Pro| Max| Ultra)?)\b", device)
    return m.group(1) if m else None


def hardware_for(device: str, table: dict[str, dict], n_gpus: int = 1) -> HardwareProfile | None:
    """HardwareProfile of a hardware.csv device (n_gpus identical GPUs for "xN" rows)."""
    r = table.get(device)
    if r is None:
        return None
    kind = r["kind"]
    mem = _num(r["mem_gb"]) or 0.0
    bw = _num(r["bandwidth_gbs"])
    if kind == "cpu":
        facts = dict(CPU_FACTS.get(device, {}))
        if not facts:
            return None
        apple = facts.pop("apple", False)
        cpu = CPUInfo(model=("Apple " if apple else "") + device, mem_bandwidth_gbs=bw, **facts)
        if apple:  # SoC figure: the CPU cluster cannot use all of it -> let the estimator decide
            cpu.mem_bandwidth_gbs = None
            return HardwareProfile(name=device, cpu=cpu, memory=MemoryInfo(mem), unified_memory=True,
                                   gpus=[GPUInfo("apple", device, None, bandwidth_gbs=bw)])
        return HardwareProfile(name=device, cpu=cpu, memory=MemoryInfo(mem))
    gpu = GPUInfo(kind, device, None if kind == "apple" else mem, bandwidth_gbs=bw, fp16_tflops=_num(r["fp16_tflops"]),
                  compute_capability=r["compute_capability"] or None, gpu_cores=int(_num(r["gpu_cores"]) or 0) or None)
    if kind == "apple":
        p, e = APPLE_CPU.get(_apple_tier(device) or "", (4, 4))
        cpu = CPUInfo(model=f"Apple {_apple_tier(device)}", cores=p + e, threads=p + e, arch="arm64",
                      isa=["neon", "dotprod"], p_cores=p, e_cores=e)
        return HardwareProfile(name=device, cpu=cpu, memory=MemoryInfo(mem), gpus=[gpu], unified_memory=True)
    unified = "unified" in r["notes"].lower() or "APU" in r["notes"]
    cpu = CPUInfo(model="host CPU", cores=8, threads=16, isa=["avx2", "fma"], mem_bandwidth_gbs=bw if unified else 64.0)
    return HardwareProfile(name=device, cpu=cpu, memory=MemoryInfo(max(mem, 64.0)), gpus=[gpu] * n_gpus, unified_memory=unified)


def parse_test(test: str) -> tuple[str, int, float, int] | None:
    """(pp|tg, prompt tokens, decode position, bench_kind) for a test label, None when not usable."""
    m = re.fullmatch(r"(pp|tg)(\d+)", test)
    if m:
        n = int(m.group(2))
        return (m.group(1), n, 0.0, 0) if m.group(1) == "pp" else ("tg", 512, n / 2.0, 0)
    if test == "tg_main":  # ./main, short prompt, -n 1024
        return "tg", 128, 512.0 + 64, 1
    if test == "pp_main":
        return "pp", 128, 0.0, 1
    if test == "tg_eval_rate":  # Ollama: short prompt, a few hundred tokens generated
        return "tg", 64, 300.0, 2
    m = re.fullmatch(r"pp_(\d+)tok", test)
    if m:
        return "pp", int(m.group(1)), 0.0, 0
    if test == "tg_short_median":
        return "tg", 64, 128.0, 0
    return None


def _threads(note: str) -> int | None:
    m = re.search(r"(\d+) threads|threads=(\d+)", note)
    return int(m.group(1) or m.group(2)) if m else None


def _backend(label: str, hw: HardwareProfile) -> str | None:
    lab = label.lower()
    if lab.startswith("mlx"):
        return "mlx"
    if lab == "cpu":
        return "llama.cpp-cpu"
    if "+fa" in lab and "vulkan" not in lab and "hip" not in lab:
        return None
    for key, name in (("cuda", "llama.cpp-cuda"), ("metal", "llama.cpp-metal"), ("vulkan", "llama.cpp-vulkan"),
                      ("hip", "llama.cpp-rocm"), ("rocm", "llama.cpp-rocm")):
        if key in lab:
            return name
    if lab == "gpu" and hw.gpus:  # Ollama picks the vendor's runtime
        return {"nvidia": "llama.cpp-cuda", "amd": "llama.cpp-rocm", "apple": "llama.cpp-metal"}.get(hw.gpus[0].vendor, "llama.cpp-vulkan")
    return None


def _quant(model: str, quant: str) -> str | None:
    q = quant.strip()
    if q == "ollama-default":
        return OLLAMA_DEFAULT_QUANT.get(model, "Q4_K_M")
    if q == "unspecified":
        return "Q4_0"  # 2023 llama.cpp default for 7B tests (assumed; the row's weight is halved)
    if q.startswith("Q3_K_S"):
        return "Q3_K_S"
    if q.startswith("BF16/FP16"):
        return "MLX-16BIT"
    if q.startswith("MLX"):
        return q.upper().replace(" ", "-")
    return q


def _fits(spec, hw: HardwareProfile, backend: str) -> bool:
    if backend == "llama.cpp-cpu" or hw.unified_memory:
        cap = hw.memory.total_gb * 1024**3
    else:
        cap = sum(g.vram_bytes for g in hw.gpus)
    return spec.weight_bytes < 0.92 * cap if cap else True


def public_rows(path: Path, weight: float, table: dict, report: LoadReport) -> list[Row]:
    """Rows of one public-schema CSV."""
    rows: list[Row] = []
    source = path.name
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            dev, note = r["device"].strip(), r.get("n_gpu_layers_or_note") or ""
            model = r["model"].strip()
            w = weight
            n_gpus = 1
            pi_host = False
            m = re.fullmatch(r"(.*) x(\d+)", dev)
            if m:
                dev, n_gpus = m.group(1), int(m.group(2))
            if source.startswith("geerlingguy"):
                mapped = next((d for pat, d in GEERLING_MAP if re.search(pat, dev)), None)
                if mapped is None:
                    report.skipped["device not in hardware table (geerlingguy system)"] += 1
                    continue
                dev = mapped
                pi_host = bool(GEERLING_PI_HOST.match(r["device"])) and "(" in r["device"]
            if source.startswith("mlx"):
                if "NOT wired" in note:
                    report.skipped["MLX without wired memory (paging)"] += 1
                    continue
                dev = MLX_DEVICE.get(dev, dev)
            if "unspecified" in r["quant"]:
                w *= 0.5
            hw = hardware_for(dev, table, n_gpus)
            if hw is not None and source.startswith("geerlingguy") and pi_host and hw.gpus:
                hw.cpu = CPUInfo(model="Raspberry Pi 5 host", mem_bandwidth_gbs=17.1, **CPU_FACTS["Raspberry Pi 5 8GB"])
            if hw is None:
                report.skipped["device facts missing"] += 1
                continue
            t = parse_test(r["test"].strip())
            if t is None:
                report.skipped[f"test {r['test']} not modelled"] += 1
                continue
            kind, prompt, pos, bench_kind = t
            backend = _backend(r["backend"].strip(), hw)
            if backend is None:
                report.skipped[f"backend {r['backend']} not modelled"] += 1
                continue
            if source.startswith("geerlingguy") and r["backend"].strip().startswith("Vulkan"):
                bench_kind = 0
            if ALIASES.get(model, model) not in ARCHS:
                report.skipped["model architecture unknown"] += 1
                continue
            bpw = re.search(r"([\d.]+)bpw", r["quant"])
            spec = build_spec(model, _quant(model, r["quant"]), float(bpw.group(1)) if bpw else None)
            if not _fits(spec, hw, backend):
                report.skipped["model larger than device memory (placement unknown)"] += 1
                continue
            rows.append(Row(source, dev, spec, hw, backend, kind, prompt, pos, float(r["tok_s"]), w,
                            _threads(note), bench_kind, None, note[:80],
                            quant_assumed=r["quant"].strip() in ASSUMED_QUANT_LABELS))
            report.used[source] += 1
    return rows


def _record_gpu_backend(rec: dict) -> str | None:
    """The llama.cpp GPU backend a bench record ran on, None for a CPU run (or a runtime that is not llama.cpp)."""
    name = (rec.get("runtime") or {}).get("name")
    if not name:
        return None
    from llmfit_core.backends import BACKENDS

    be = BACKENDS.get(str(name))
    if be is None or be.runtime != "llama.cpp" or not be.gpu:
        return None
    ngl = (rec.get("settings") or {}).get("n_gpu_layers")
    return None if ngl is not None and int(ngl) == 0 else be.name


def _gpu_record_setup(rec: dict, spec, hw: HardwareProfile, backend: str) -> tuple[HardwareProfile, dict, str]:
    """(hardware with the record's GPUs, placement, device group) of a GPU bench record.

    GPU figures the record does not give are filled as the predictor fills them (hardware.registry.
    fill_missing: device table, then estimates); the placement is what the predictor computes for the
    record's offloaded layers (settings.n_gpu_layers; missing or negative = every layer).
    """
    from llmfit_core.hardware.devices import lookup_device
    from llmfit_core.hardware.registry import fill_missing
    from llmfit_core.memory import estimate_memory
    from llmfit_core.placement import place

    hwd, st = rec["hardware"], rec.get("settings") or {}
    gpus = []
    for g in hwd.get("gpus") or []:
        if not isinstance(g, dict) or not g.get("name"):
            continue
        cores = g.get("gpu_cores")
        gpus.append(GPUInfo(str(g.get("vendor") or "unknown"), str(g["name"]), _num(g.get("vram_gb")),
                            bandwidth_gbs=_num(g.get("bandwidth_gbs")), fp16_tflops=_num(g.get("fp16_tflops")),
                            compute_capability=g.get("compute_capability") or None,
                            gpu_cores=int(cores) if cores else None))
    if not gpus:
        raise ValueError("GPU record without GPU facts")
    hw.gpus = gpus
    hw.name = " + ".join(g.name for g in gpus)
    fill_missing(hw)
    fa = {"on": True, "off": False}.get(str(st.get("flash_attn")))
    mem = estimate_memory(spec, backend, int(st.get("n_ctx") or 512), cache_type_k=st.get("cache_type_k") or "f16",
                          cache_type_v=st.get("cache_type_v") or "f16", n_batch=int(st.get("n_batch") or 2048),
                          n_ubatch=int(st.get("n_ubatch") or 512), flash_attn=fa, cpu_isa=hw.cpu.isa, cpu_arch=hw.cpu.arch)
    ngl = st.get("n_gpu_layers")
    plc = place(spec, mem, hw, backend, gpu_layers=None if ngl is None or int(ngl) < 0 else int(ngl))
    placement = {"gpu_layers": plc.gpu_layers, "total_layers": plc.total_layers, "per_gpu_bytes": list(plc.per_gpu_bytes)}
    # the same physical device as the public rows of that GPU (leave-devices-out groups)
    names = []
    for g in gpus:
        dev = lookup_device(g.name, g.gpu_cores, mem_gb=g.vram_gb)
        names.append(dev.name if dev is not None else g.name)
    return hw, placement, " + ".join(names)


def record_rows(path: Path, report: LoadReport) -> list[Row]:
    """Rows from a JSONL of `llmfit bench` records (they carry hardware and model facts)."""
    from llmfit_core.bench.records import spec_from_facts

    rows: list[Row] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            hwd, st = rec["hardware"], rec.get("settings") or {}
            spec = spec_from_facts(rec["model"])
            if spec is None:
                report.skipped["record without model facts"] += 1
                continue
            cpu = CPUInfo(model=hwd.get("cpu_model") or "cpu", cores=int(hwd.get("cpu_cores") or 1),
                          threads=int(hwd.get("cpu_threads") or 1), arch=hwd.get("cpu_arch") or "x86_64",
                          isa=list(hwd.get("cpu_isa") or []), mem_bandwidth_gbs=hwd.get("mem_bandwidth_gbs"),
                          vendor=hwd.get("cpu_vendor"))
            hw = HardwareProfile(name=hwd.get("cpu_model") or "cpu", cpu=cpu, memory=MemoryInfo(float(hwd.get("ram_gb") or 0)))
            if hwd.get("mem_bandwidth_source"):  # e.g. "measured": the figure a user gets after --measure-bandwidth
                hw.sources["cpu.mem_bandwidth_gbs"] = str(hwd["mem_bandwidth_source"])
            device = f"{cpu.model} ({cpu.cores}c)"
            backend, placement = "llama.cpp-cpu", None
            gpu_backend = _record_gpu_backend(rec)
            if gpu_backend is not None:
                backend = gpu_backend
                hw, placement, device = _gpu_record_setup(rec, spec, hw, backend)
            for key, res in (rec.get("results") or {}).items():
                n = int(res.get("n_tokens") or 0)
                if n <= 0 or not res.get("tok_s"):
                    continue
                kind = "pp" if key.startswith("pp") else "tg"
                prompt, pos = (n, 0.0) if kind == "pp" else (512, n / 2.0)
                rows.append(Row(f"bench:{path.name}", device, spec, hw, backend, kind, prompt, pos,
                                float(res["tok_s"]), float(rec.get("weight", 1.0)), st.get("threads"), 0, placement,
                                n_ubatch=int(st.get("n_ubatch") or 512), n_batch=int(st.get("n_batch") or 2048)))
                report.used[f"bench:{path.name}"] += 1
        except (KeyError, TypeError, ValueError, LlmfitError) as exc:
            report.skipped[f"bad record ({type(exc).__name__})"] += 1
    return rows


def load_rows(extra: list[str | Path] | None = None, data_dir: Path | None = None,
              threads: bool = True) -> tuple[list[Row], LoadReport]:
    """All training rows (public tables, the llama-bench threads table unless `threads` is False, extra
    CSV/JSONL files) and what was used/skipped."""
    d = data_dir or DATA_DIR
    table = load_hardware_table(d / "hardware.csv")
    report = LoadReport()
    rows: list[Row] = []
    for name, w in PUBLIC_FILES.items():
        rows += public_rows(d / name, w, table, report)
    from training.threads_data import threads_rows

    if threads and (d / "llamabench_threads.csv").is_file():
        rows += threads_rows(d, report)
    for p in extra or []:
        p = Path(p)
        rows += record_rows(p, report) if p.suffix == ".jsonl" else public_rows(p, 1.0, table, report)
    return rows, report
