"""Which files of a repo make up a model: GGUF variants (split shards grouped), safetensors weights."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llmfit_core.defaults import GGUF_REPO_TAGS
from llmfit_core.errors import NotFoundError

_SPLIT_RE = re.compile(r"^(?P<base>.+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.gguf$", re.IGNORECASE)
# a quant token as people put it in GGUF file names: Q4_K_M, IQ4_XS, UD-Q4_K_XL, BF16, F16, TQ1_0, MXFP4
_QUANT_TOKEN = re.compile(r"^(?:U?D?-?)?(I?Q\d+(?:_[A-Z0-9]+)*|BF16|F16|F32|FP16|FP32|TQ\d_\d|MXFP4(?:_MOE)?)$")


def quant_from_name(filename: str) -> str | None:
    """The quantization named in a GGUF file name (`Llama-3-8B.Q4_K_M.gguf` → `Q4_K_M`), or None."""
    stem = filename.rsplit("/", 1)[-1]
    m = _SPLIT_RE.match(stem)
    stem = m.group("base") if m else re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
    found = None
    for token in re.split(r"[-.]", stem):
        t = token.upper()
        if _QUANT_TOKEN.match(t):
            found = t  # the last one wins (names like "Q8-model-Q4_K_M" are rare; suffixes are the norm)
    if found is None and "/" in filename:  # quant folders: Q4_K_M/model-00001-of-00002.gguf
        return quant_from_name(filename.rsplit("/", 1)[0].rsplit("/", 1)[-1] + ".gguf")
    return canonical_quant(found) if found else None


def canonical_quant(name: str) -> str:
    """normalize_quant when it knows the name, else the upper-cased name."""
    try:
        from llmfit_core.quant import normalize_quant  # lazy: start-up time (`hf download` checks: 29 ms)

        return normalize_quant(name)
    except Exception:
        return name.upper().replace("FP16", "F16").replace("FP32", "F32")


@dataclass
class GGUFVariant:
    """One model file of a GGUF repo; split GGUFs are one variant with several shards."""

    quant: str | None
    files: list[str]  # shard order; files[0] holds the metadata
    sizes: list[int | None] = field(default_factory=list)

    @property
    def first(self) -> str:
        return self.files[0]

    @property
    def size(self) -> int | None:
        return None if any(s is None for s in self.sizes) else sum(self.sizes)

    @property
    def label(self) -> str:
        if len(self.files) == 1:
            return self.files[0]
        return f"{self.files[0]} (+{len(self.files) - 1} shards)"


def is_projector(name: str) -> bool:
    base = name.rsplit("/", 1)[-1].lower()
    return base.startswith("mmproj") or "-mmproj" in base or base.startswith("projector")


def gguf_variants(files: dict[str, int | None]) -> list[GGUFVariant]:
    """Group the `.gguf` files of a repo (name → size) into variants, smallest first.

    Vision projectors (mmproj) are not models. An incomplete split (missing shards) is skipped.
    """
    groups: dict[str, dict[int, str]] = {}
    counts: dict[str, int] = {}
    singles = []
    for name in files:
        if not name.lower().endswith(".gguf") or is_projector(name):
            continue
        base = name.rsplit("/", 1)[-1]
        m = _SPLIT_RE.match(base)
        if m:
            key = name[: len(name) - len(base)] + m.group("base")
            groups.setdefault(key, {})[int(m.group("i"))] = name
            counts[key] = int(m.group("n"))
        else:
            singles.append(name)
    out = [GGUFVariant(quant_from_name(n), [n], [files[n]]) for n in singles]
    for key, shards in groups.items():
        n = counts[key]
        if sorted(shards) != list(range(1, n + 1)):
            continue
        names = [shards[i] for i in range(1, n + 1)]
        out.append(GGUFVariant(quant_from_name(names[0]), names, [files[x] for x in names]))
    out.sort(key=lambda v: (v.size is None, v.size or 0, v.first))
    return out


def pick_variant(variants: list[GGUFVariant], quant: str | None = None, file: str | None = None,
                 repo_id: str = "") -> GGUFVariant:
    """The variant for `file` (any shard name) or `quant`; default as llama.cpp's `-hf`: Q4_K_M, Q8_0, the first file."""
    if not variants:
        raise NotFoundError(f"{repo_id} has no GGUF model files")
    if file:
        for v in variants:
            if file in v.files or any(f.rsplit("/", 1)[-1] == file for f in v.files):
                return v
        raise NotFoundError(f"{file!r} is not a GGUF model file of {repo_id} (renamed?); available: "
                            + ", ".join(v.first for v in variants[:12]))
    if quant:
        want = canonical_quant(quant)
        matches = [v for v in variants if v.quant == want]
        if matches:
            # `Q4_K_M` and an Unsloth `UD-Q4_K_XL` normalize alike: prefer the file that says it literally
            literal = [v for v in matches if quant.upper() in v.first.upper()]
            return (literal or matches)[0]
        have = sorted({v.quant for v in variants if v.quant})
        raise NotFoundError(f"{repo_id} has no {want} file; quants available: {', '.join(have) or 'none named'}")
    for default in GGUF_REPO_TAGS:  # what llama.cpp's `-hf org/repo` downloads
        for v in variants:
            if v.quant == default:
                return v
    return min(variants, key=lambda v: v.first)  # else its first model file


def safetensors_files(files: dict[str, int | None]) -> list[str]:
    """The weight files of a transformers/MLX repo (top-level `*.safetensors`)."""
    return sorted(n for n in files if n.endswith(".safetensors") and "/" not in n)
