"""Build llmfit_core/data/catalog.json.gz from the llmfit 1.1.17 model list (MIT, see data/CATALOG_SOURCES.md).

    python training/build_catalog.py [--source PATH] [--out-dir llmfit_core/data]

Every entry is converted, its missing architecture fields filled from an identical twin, validated
(llmfit_core.catalog.validate: parameter count recomputed from the architecture), repaired or dropped,
and re-uploads merged. The counts and reasons go to data/catalog_build_report.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmfit_core.catalog.columnize import write_catalog_columns  # noqa: E402
from llmfit_core.catalog.columns import COLUMNS_FILE  # noqa: E402
from llmfit_core.catalog.entry import ARCH_FIELDS, CatalogEntry, family_of, uses_from_name  # noqa: E402
from llmfit_core.catalog.facts import Documented, documented_for, is_publisher  # noqa: E402
from llmfit_core.catalog.publishers import WELL_KNOWN_TUNES, classify  # noqa: E402
from llmfit_core.catalog.validate import _HYBRID, name_params, recompute_params, validate_entry  # noqa: E402
from llmfit_core.errors import CatalogError  # noqa: E402

SOURCE = ROOT / "data" / "catalog" / "llmfit-1.1.17-models.json.gz"  # copied from ../shared/catalog (see its SOURCES.md)
SRC_TAG = "llmfit-1.1.17"
USES_SRC = "derived from the model's own name and capabilities"

_VARIANT_SUFFIX = re.compile(
    r"([-_.](gguf|mlx|awq|gptq|int[248]|fp8|nvfp4|mxfp4|bnb|4bit|8bit|[2-8]bit|\d+-?bit|autoround|dwq|hqq|exl2|"
    r"w4a16|w8a8|unsloth|dynamic|bf16|fp16|quantized|mixed|q\d(_k)?(_[msl])?))+$",
    re.I,
)


def uses_of(raw: dict) -> list[str]:
    """Use tags from the model's own short name and capabilities. The source's `use_case` text is not used for
    chat/coding/reasoning: it was derived from the whole repo id, uploader included ("coder3101/..." -> coding)."""
    uc = (raw.get("use_case") or "").lower()
    caps = list(raw.get("capabilities") or []) + (["embedding"] if "embedding" in uc else [])
    return uses_from_name(raw["name"], capabilities=caps)


def convert(raw: dict) -> CatalogEntry:
    """llmfit 1.1.17 entry -> CatalogEntry (fields not validated yet)."""
    name = raw["name"]
    fmt = (raw.get("format") or "").lower()
    lname = name.lower()
    if fmt not in ("mlx", "awq", "gptq"):  # the source's format field misses many quantized re-uploads
        for hint in ("mlx", "awq", "gptq"):
            if re.search(rf"(^|[-_/.]){hint}([-_.]|$)", lname):
                fmt = hint
                break
    if lname.endswith("gguf"):
        fmt_repo, quant = "gguf", raw.get("quantization")
    elif fmt in ("mlx", "awq", "gptq"):
        fmt_repo, quant = fmt, raw.get("quantization")
        m = re.search(r"(\d+)[-_]?bit|int(\d)|w(\d)a16", lname)
        bits = next((g for g in (m.groups() if m else ()) if g), None)
        if fmt == "mlx":
            quant = f"MLX-{bits}bit" if bits else "MLX"
        elif not quant or quant in ("Q4_K_M", "F16"):
            quant = f"{fmt.upper()}-{bits or 4}bit"
    else:
        fmt_repo = "safetensors"
        quant = raw.get("quantization") if fmt == "autoround" else None
    moe = bool(raw.get("is_moe")) and (raw.get("num_experts") or 0) > 1
    ffn = raw.get("moe_intermediate_size") or 0
    e = CatalogEntry(
        id=name,
        family=family_of(name, raw.get("architecture") or ""),
        arch=(raw.get("architecture") or "unknown"),
        params=int(raw.get("parameters_raw") or 0),
        active_params=int(raw.get("active_parameters") or 0),
        n_layers=raw.get("num_hidden_layers") or 0,
        hidden_size=raw.get("hidden_size") or 0,
        n_heads=raw.get("num_attention_heads") or 0,
        n_kv_heads=raw.get("num_key_value_heads") or 0,
        head_dim=raw.get("head_dim") or 0,
        vocab_size=raw.get("vocab_size") or 0,
        max_context=raw.get("context_length") or 0,
        ffn_size=0 if moe else ffn,
        n_experts=(raw.get("num_experts") or 0) if moe else 0,
        n_experts_used=(raw.get("active_experts") or 0) if moe else 0,
        expert_ffn_size=ffn if moe else 0,
        shared_ffn_size=(raw.get("shared_expert_intermediate_size") or 0) if moe else 0,
        license=raw.get("license"),
        released=raw.get("release_date"),
        uses=uses_of(raw),
        format=fmt_repo,
        quant=quant,
        src={"*": SRC_TAG, "family": "derived from name", "uses": USES_SRC},
    )
    seen = set()
    for g in raw.get("gguf_sources") or []:
        repo = g.get("repo")
        if repo and repo.lower() not in seen:
            seen.add(repo.lower())
            e.gguf.append({"repo": repo})  # no "quants": the usual set, assumed (CatalogEntry.gguf_quants)
    return e


# Sliding-window size of architectures whose every published config.json sets one (the source list has
# no sliding-window field): google/gemma-2-* 4096; google/gemma-3-* 1024 (gemma-3-1b: 512);
# openai/gpt-oss-* 128; CohereForAI c4ai-command-r7b (cohere2) 4096. The layer pattern follows from the
# architecture (readers.hf_config).
ARCH_SLIDING_WINDOW = {"gemma2": 4096, "gemma3": 1024, "gemma3_text": 1024, "gpt_oss": 128, "cohere2": 4096}


def fill_sliding_window(e: CatalogEntry) -> None:
    w = ARCH_SLIDING_WINDOW.get(e.arch)
    if w and not e.sliding_window:
        e.sliding_window = 512 if e.arch.startswith("gemma3") and e.params < 2e9 else w
        e.src["sliding_window"] = f"architecture default ({e.arch} config.json)"


_DOC_FIELDS = ("arch", "n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim", "vocab_size", "ffn_size",
               "n_experts", "n_experts_used", "expert_ffn_size", "shared_ffn_size", "dense_layers")
_SUFFIXES = re.compile(r"[-_](instruct|it|chat|base|pt|hf|bf16|fp16|fp8|nvfp4|fp8-dynamic)(?=$|[-_])", re.I)
# families whose bare size name is the pretrained (base) model; the chat model carries -Instruct / -it
_BARE_IS_BASE = re.compile(r"^(llama|meta-llama|qwen2\.5|gemma|mistral|mixtral|olmo|smollm2|granite)", re.I)


def _official_name(short: str) -> str:
    return _SUFFIXES.sub("", short.lower())


def _is_base_model(short: str, d: Documented) -> bool:
    low = short.lower()
    if re.search(r"(?:^|[-_])(base|pt)(?:[-_.]|$)", low):
        return True
    return bool(_BARE_IS_BASE.match(d.name)) and not re.search(r"instruct|chat|(?:^|[-_])it(?:[-_.]|$)", low)


def apply_documented(e: CatalogEntry, stats: Counter) -> None:
    """Facts of the documented official size (facts.DOCUMENTED): a first-party entry or a re-packaging (quantized
    copy) of the official model gets the missing or disagreeing architecture fields; first-party releases also the
    documented uses and, for the official repo itself, the release date; any matching entry with an unknown
    architecture gets the documented one. Each changed field names its source."""
    d = documented_for(e)
    if d is None:
        return
    if e.arch == "unknown" and d.arch:
        e.arch = d.arch
        e.src["arch"] = f"documented for {d.name} ({d.source})"
        stats["documented: architecture named"] += 1
    first_party = is_publisher(e, d)
    if not first_party and e.publisher != "repackage":
        return  # a community fine-tune keeps its own facts (it may have grown its vocabulary or context)
    changed = []
    no_config = not e.n_layers  # the source list had no config for it: its context is a 4,096 placeholder
    for f in _DOC_FIELDS + ("tied_embeddings",):
        want = getattr(d, "tied" if f == "tied_embeddings" else f)
        if want is None or (f in ("n_experts", "n_experts_used", "expert_ffn_size", "shared_ffn_size", "dense_layers")
                            and not d.n_experts):
            continue
        if f == "ffn_size" and d.n_experts and not d.dense_layers:
            want = 0  # an all-MoE model has no dense FFN
        have = getattr(e, f)
        if have != want and not (f == "tied_embeddings" and not have and not want):
            setattr(e, f, want)
            if f != "tied_embeddings":
                e.src[f] = f"documented for {d.name} ({d.source})" + (f"; the source list said {have:,}" if isinstance(have, int) and have and not isinstance(have, bool) else "")
                changed.append(f)
    if (not e.max_context or no_config) and d.max_context and e.max_context != d.max_context:
        e.max_context = d.max_context
        e.src["max_context"] = f"documented limit of {d.name} ({d.source})"
        changed.append("max_context")
    if changed:
        stats["documented: first-party entries with architecture fields filled or corrected" if first_party else
              "documented: re-packagings of an official model with architecture fields filled or corrected"] += 1
    if not first_party:
        return  # a quantized copy of the publisher's model: its architecture, not its release date or uses
    short = e.short_name
    if _official_name(short) == d.name.lower() and d.released and e.released != d.released:
        e.src["released"] = f"documented release of {d.name} ({d.source}; the source list said {e.released})"
        e.released = d.released
        stats["documented: release date corrected"] += 1
    # uses: every first-party release of this size (the -Instruct-2507 of Qwen3-30B-A3B codes like the original)
    uses = set(d.uses) | (set(e.uses) & {"vision", "embedding", "reasoning"})
    if _is_base_model(short, d):
        uses -= {"chat", "tool-use"}
    if d.uses and uses != set(e.uses):
        e.uses = sorted(uses)
        e.src["uses"] = f"documented uses of {d.name} ({d.source})"
        stats["documented: uses corrected"] += 1


def fill_params_from_publisher(entries: list[CatalogEntry], stats: Counter) -> None:
    """A declared parameter count that contradicts the size in the repo's own name (1,492.6 B for a "120B") and that
    the architecture cannot recompute (hybrids) takes the count of the same publisher's release of that model
    (the BF16 repo of an FP8 upload), named in `src`; without one the count stays and validation decides."""
    by_base = defaultdict(list)
    for e in entries:
        by_base[(e.id.split("/", 1)[0], _official_name(_VARIANT_SUFFIX.sub("", e.short_name)))].append(e)
    for e in entries:
        stated = name_params(e.short_name)
        if not stated or e.params <= 0 or abs(e.params / stated - 1) < 0.35:
            continue
        rc = recompute_params(e) if all(getattr(e, f) for f in ARCH_FIELDS) else None
        if rc is not None and (rc.layout_modelled or not _HYBRID.search(e.arch)):
            continue  # validation recomputes it from the architecture
        key = (e.id.split("/", 1)[0], _official_name(_VARIANT_SUFFIX.sub("", e.short_name)))
        donors = [t for t in by_base[key] if t is not e and abs(t.params / stated - 1) < 0.35]
        if not donors:
            continue
        donor = min(donors, key=lambda t: (t.format != "safetensors", t.id))
        e.src["params"] = (f"from the same publisher's release {donor.id} (declared {e.params:,} contradicts the "
                           f"{stated / 1e9:g}B in the name)")
        e.params = donor.params
        if donor.active_params:
            e.active_params = donor.active_params
            e.src["active_params"] = f"from the same publisher's release {donor.id}"
        stats["params taken from the same publisher's release"] += 1


def _twin_key(e: CatalogEntry):
    return (e.arch, e.n_layers, e.n_heads, e.n_kv_heads, e.head_dim)


def fill_from_twins(entries: list[CatalogEntry]) -> int:
    """Fill missing architecture fields from a complete entry of the same shape and size (±2%).

    Only a first-party release can be the twin (the publisher's own base model, never a community upload), and a
    first-party entry takes facts only from its own publisher; the source is named in `src`."""
    fillable = ("hidden_size", "vocab_size", "ffn_size", "expert_ffn_size")
    complete = defaultdict(list)
    for e in entries:
        if e.publisher != "first-party" or any(str(e.src.get(f, "")).startswith("filled") for f in fillable):
            continue
        if all(getattr(e, f) for f in ARCH_FIELDS) and (e.ffn_size or e.expert_ffn_size):
            complete[_twin_key(e)].append(e)
    filled = 0
    for e in entries:
        need = [f for f in ("hidden_size", "vocab_size") if not getattr(e, f)]
        if not (e.ffn_size or e.expert_ffn_size):
            need.append("expert_ffn_size" if e.is_moe else "ffn_size")
        if not need or not all((e.n_layers, e.n_heads, e.n_kv_heads, e.head_dim)) or e.params <= 0:
            continue
        org = e.id.split("/", 1)[0]
        twins = [t for t in complete.get(_twin_key(e), []) if t.is_moe == e.is_moe and abs(t.params / e.params - 1) < 0.02
                 and (e.publisher != "first-party" or t.id.split("/", 1)[0] == org)]
        if not twins:
            continue
        twin = min(twins, key=lambda t: (abs(t.params - e.params), t.id))
        for f in need:
            if f in fillable and getattr(twin, f):
                setattr(e, f, getattr(twin, f))
                e.src[f] = f"filled from the publisher's model {twin.id} (same architecture and size)"
        filled += 1
    return filled


def base_key(e: CatalogEntry):
    base = e.id.rsplit("/", 1)[-1].lower()
    prev = None
    while prev != base:
        prev, base = base, _VARIANT_SUFFIX.sub("", base)
    return (base, e.arch, e.n_layers, e.hidden_size)


def merge_duplicates(entries: list[CatalogEntry]) -> tuple[list[CatalogEntry], Counter]:
    """Merge re-uploads of the same model (same base name and architecture, params within 1%).

    The original (full-precision repo, most GGUF sources, earliest release, shortest id) stays;
    MLX/AWQ/GPTQ/GGUF copies are kept as entries with `variant_of` and listed on the original;
    plain re-uploads are folded into `mirrors` and removed.
    """
    groups = defaultdict(list)
    for e in entries:
        groups[base_key(e)].append(e)
    out, stats = [], Counter()
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        group.sort(key=lambda e: (e.format != "safetensors", -len(e.gguf), e.released or "9999", len(e.id), e.id))
        canon = group[0]
        out.append(canon)
        for e in group[1:]:
            repaired = e.src.get("params", "").startswith("recomputed")  # packed count repaired: tie guess may differ
            if abs(e.params / canon.params - 1) > 0.01 and not (repaired and abs(e.params / canon.params - 1) < 0.25):
                out.append(e)
                continue
            if e.format in ("mlx", "awq", "gptq"):
                getattr(canon, e.format).append(e.id)
                e.variant_of = canon.id
                out.append(e)
                stats[f"{e.format} variant linked"] += 1
            elif e.format == "gguf":
                if e.id.lower() not in {g["repo"].lower() for g in canon.gguf}:
                    canon.gguf.append({"repo": e.id})
                e.variant_of = canon.id
                out.append(e)
                stats["gguf repo linked"] += 1
            else:
                canon.mirrors.append(e.id)
                for g in e.gguf:
                    if g["repo"].lower() not in {x["repo"].lower() for x in canon.gguf}:
                        canon.gguf.append(g)
                canon.uses = sorted(set(canon.uses) | set(e.uses))
                stats["re-upload merged"] += 1
    return out, stats


def build(source: Path, out_dir: Path) -> dict:
    raws = json.load(gzip.open(source))
    entries, dropped, reasons_examples = [], Counter(), defaultdict(list)
    checks: Counter = Counter()  # entries each fact check changed

    def drop(reason: str, name: str):
        dropped[reason] += 1
        if len(reasons_examples[reason]) < 3:
            reasons_examples[reason].append(name)

    seen = {}
    for raw in raws:
        key = raw["name"].lower()
        if key in seen:
            drop("exact duplicate id", raw["name"])
            continue
        seen[key] = True
        uc = (raw.get("use_case") or "").lower()
        if "speech" in uc or "audio" in uc or "tts" in (raw.get("capabilities") or []):
            drop("not a text LLM (speech/audio model)", raw["name"])
            continue
        entry = convert(raw)
        entry.publisher, entry.modified = classify(entry)
        apply_documented(entry, checks)
        fill_sliding_window(entry)
        entries.append(entry)
    fill_params_from_publisher(entries, checks)
    n_filled = fill_from_twins(entries)
    valid, repairs = [], Counter()
    unverified, unverified_examples = 0, []
    repair_examples = defaultdict(list)
    for e in entries:
        try:
            fixes = validate_entry(e)
        except CatalogError as exc:
            msg = str(exc).split(": ", 1)[1]
            head = msg.split(":")[0]
            reason = head if ("declared" in msg or "missing" in head or "hybrid" in head) else re.sub(r"[-+]?\d[\d,.%]*", "N", msg)
            drop(reason, e.id)
            continue
        for f in fixes:
            if f.startswith("unverified"):
                unverified += 1
                if len(unverified_examples) < 3:
                    unverified_examples.append(e.id)
                continue
            field_name = f.split(" ", 1)[0]
            if "(documented" in f:
                kind = f"{field_name} (documented fact of the official size)"
            else:
                kind = field_name + (" (" + f.rsplit("(", 1)[1] if "(" in f else "")
            repairs[kind] += 1
            if len(repair_examples[kind]) < 3:
                repair_examples[kind].append(f"{e.id}: {f}")
        valid.append(e)
    merged, merge_stats = merge_duplicates(valid)
    merged.sort(key=lambda e: e.id.lower())
    for e in merged:  # variants were linked by the merge: classify again
        e.publisher, e.modified = classify(e)
        e.well_known = WELL_KNOWN_TUNES.get(e.id)
    publishers = Counter(e.publisher for e in merged if not e.variant_of)
    modified = Counter(e.modified for e in merged if e.modified and not e.variant_of)
    out_dir.mkdir(parents=True, exist_ok=True)
    # field sources shared by most entries are stored once ("src_defaults"); entries keep their overrides
    src_defaults = {"*": SRC_TAG, "family": "derived from name", "uses": USES_SRC}
    models = []
    for e in merged:
        d = e.to_dict()
        d["src"] = {k: v for k, v in e.src.items() if src_defaults.get(k) != v}
        if not d["src"]:
            del d["src"]
        models.append(d)
    doc = {
        "format": "llmfit-catalog/1",
        "source": f"{source.name} (AlexsJones/llmfit 1.1.17, MIT), validated by training/build_catalog.py",
        "src_defaults": src_defaults,
        "models": models,
    }
    data = json.dumps(doc, separators=(",", ":"), sort_keys=False).encode()
    (out_dir / "catalog.json.gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    stats = {
        "input": len(raws), "kept": len(merged), "dropped": dict(dropped), "repairs": dict(repairs),
        "filled_from_twin": n_filled, "merge": dict(merge_stats), "hybrid_unverified": unverified,
        "hybrid_examples": unverified_examples,
        "variants": sum(1 for e in merged if e.variant_of), "bytes": (out_dir / "catalog.json.gz").stat().st_size,
        "checks": dict(checks), "publishers": dict(publishers), "modified": dict(modified),
    }
    _write_report(out_dir / "catalog_build_report.md", stats, reasons_examples, repair_examples, merged)
    # the fast-loading columns of the same catalog (catalog.columns), built from the JSON just written
    write_catalog_columns(out_dir / "catalog.json.gz", out_dir / COLUMNS_FILE)
    from llmfit_core.quant_quality import GGUF_LADDER
    from llmfit_core.recommend.bpw import GROUP_BPW_FILE, compute_group_bpw

    quants = list(GGUF_LADDER) + ["MXFP4_MOE", "MLX-3bit", "MLX-4bit", "MLX-6bit", "MLX-8bit", "AWQ-4bit", "AWQ-8bit",
                                  "GPTQ-4bit", "GPTQ-8bit"]  # MXFP4_MOE: gpt-oss's own GGUF (defaults.default_quant)
    bpw = {f"{q}@odd" if odd else q: {g: round(v, 5) for g, v in compute_group_bpw(q, odd).items()}
           for q in quants for odd in (False, True)}
    (out_dir / GROUP_BPW_FILE).write_text(json.dumps(bpw, indent=1, sort_keys=True) + "\n")
    return stats


def _write_report(path: Path, s: dict, drop_ex, repair_ex, merged) -> None:
    lines = [
        "# Catalog build report", "",
        f"Source: `{SOURCE.name}` ({s['input']:,} entries), built by `training/build_catalog.py`.", "",
        f"- kept: **{s['kept']:,}** entries ({s['kept'] - s['variants']:,} models + {s['variants']:,} quantized/GGUF variants linked to their original)",
        f"- dropped: **{sum(s['dropped'].values()):,}**",
        f"- repaired: **{sum(s['repairs'].values()):,}** fields",
        f"- hybrid architectures (linear attention / SSM layers) kept with their declared parameter count, flagged "
        f"unverified (a plausible 0.5-2x of the attention-only formula, not a packed re-upload): {s['hybrid_unverified']:,} "
        f"(e.g. {', '.join(s['hybrid_examples'])}); their KV cache is estimated on all layers (conservative)",
        f"- architecture fields filled from a first-party twin (the publisher's own model of the same arch, layers, "
        f"heads, KV heads, head_dim, params ±2%; never a community upload): {s['filled_from_twin']:,}",
        f"- merges: {', '.join(f'{k}: {v:,}' for k, v in sorted(s['merge'].items()))}",
        f"- file size: {s['bytes'] / 1e6:.2f} MB gzipped", "",
        "Validation rule: the parameter count recomputed from the architecture (llmfit_core/catalog/validate.py;",
        "MoE with per-expert, shared-expert and dense-layer sizes; the Nemotron-H hybrid from its documented layer",
        "pattern) must agree with the declared one within 3%. A declared count that disagrees is replaced by the",
        "recomputed one and flagged in the entry's `src` when the ratio is within 0.5-2x (or the recount matches the",
        "size in the name); far-too-small or packed counts are repaired the same way; the rest are dropped.",
        "Facts of ~80 official sizes of 30 families (llmfit_core/catalog/facts.py, each row with its config/model card",
        "URL) fill and correct first-party entries and cap the context of every entry of that size.", "",
        "## Fact checks: entries changed by each", "", "| check | entries |", "|---|---:|",
        *[f"| {k} | {v:,} |" for k, v in sorted(s["checks"].items())],
        *[f"| validation: {k} | {v:,} |" for k, v in sorted(s["repairs"].items())],
        "", "## Publishers (models, variants not counted)", "",
        ", ".join(f"{k}: {v:,}" for k, v in sorted(s["publishers"].items())),
        "", "Hidden from `recommend` unless asked for (`--modified`): "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(s["modified"].items())), "",
        "## Dropped, by reason", "", "| reason | count | examples |", "|---|---:|---|",
    ]
    for reason, n in sorted(s["dropped"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {reason} | {n:,} | {', '.join(drop_ex[reason])} |")
    lines += ["", "## Repaired, by kind", "", "| repair | count | examples |", "|---|---:|---|"]
    for kind, n in sorted(s["repairs"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {kind} | {n:,} | {'; '.join(repair_ex[kind])} |")
    fams = Counter(e.family for e in merged if not e.variant_of)
    uses = Counter(u for e in merged if not e.variant_of for u in e.uses)
    lines += ["", "## Contents", "", f"Top families: {', '.join(f'{k} {v}' for k, v in fams.most_common(15))}", "",
              f"Use tags: {', '.join(f'{k} {v}' for k, v in uses.most_common())}", "",
              "GGUF quantization lists are the usual set of the big publishers (assumed, sizes unknown) until",
              "`llmfit catalog update` reads the real file list and sizes from the Hub.", ""]
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--out-dir", type=Path, default=ROOT / "llmfit_core" / "data")
    args = ap.parse_args(argv)
    stats = build(args.source, args.out_dir)
    print(json.dumps(stats, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
