"""Constraints people type: "min 20 tok/s, max 8GB RAM", "context 16k", "use coding", and CLI flags.

`parse_constraints(text)` and `Constraints.merge(...)` build a Constraints; anything not understood
raises ConstraintError naming the piece. Sizes "8GB"/"8 GiB" are GiB (like hardware profiles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace

from llmfit_core.catalog.entry import USES
from llmfit_core.errors import ConstraintError, UnknownQuantizationError
from llmfit_core.quant import normalize_quant
from llmfit_core.units import fmt_gib, parse_size, parse_tokens

_USE_ALIASES = {
    "code": "coding", "coder": "coding", "coding": "coding", "programming": "coding",
    "chat": "chat", "assistant": "chat", "instruct": "chat",
    "reasoning": "reasoning", "reason": "reasoning", "thinking": "reasoning", "math": "reasoning",
    "vision": "vision", "image": "vision", "images": "vision", "multimodal": "vision", "vl": "vision",
    "embedding": "embedding", "embeddings": "embedding", "embed": "embedding", "rag": "embedding",
    "tool-use": "tool-use", "tools": "tool-use", "tool": "tool-use", "tool_use": "tool-use", "tooluse": "tool-use",
    "function-calling": "tool-use", "agent": "tool-use", "agents": "tool-use",
}
_FORMATS = ("gguf", "safetensors", "mlx", "awq", "gptq")


@dataclass
class Constraints:
    """What a recommendation must satisfy. None/empty = no constraint."""

    min_tps: float | None = None  # decode tokens/s
    min_prefill_tps: float | None = None
    max_memory_bytes: int | None = None  # total memory the model may take (weights + KV + buffers)
    max_vram_bytes: int | None = None  # GPU share
    context: int | None = None
    uses: list[str] = field(default_factory=list)
    licenses: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    quants: list[str] = field(default_factory=list)
    min_params: int | None = None
    max_params: int | None = None
    fits: bool = True  # only models that fit the hardware

    def merge(self, other: "Constraints") -> "Constraints":
        """`other`'s set values win (flags over free text)."""
        out = replace(self)
        for f in fields(self):
            v = getattr(other, f.name)
            if f.name == "fits":
                out.fits = self.fits and other.fits
            elif v not in (None, []):
                setattr(out, f.name, v)
        out.check()
        return out

    def check(self) -> "Constraints":
        """Raise ConstraintError for contradictions visible without any model."""
        if self.min_params and self.max_params and self.min_params > self.max_params:
            raise ConstraintError(f"contradictory constraints: min params {fmt_count(self.min_params)} > max params {fmt_count(self.max_params)}")
        for name in ("min_tps", "min_prefill_tps", "max_memory_bytes", "max_vram_bytes", "context"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ConstraintError(f"{describe_field(name, v)}: must be positive")
        if self.context is not None and self.context > 16 * 1024 * 1024:
            raise ConstraintError(f"context {self.context:,} tokens is beyond any model (max 16M)")
        return self

    def describe(self) -> list[tuple[str, str]]:
        """(field, human text) for every set constraint, in a stable order."""
        out = []
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "fits" or v in (None, []):
                continue
            out.append((f.name, describe_field(f.name, v)))
        return out


def fmt_count(n: float) -> str:
    return f"{n / 1e9:.3g}B" if n >= 1e9 else f"{n / 1e6:.3g}M"


def describe_field(name: str, v) -> str:
    return {
        "min_tps": lambda: f"min {v:g} tok/s",
        "min_prefill_tps": lambda: f"prefill min {v:g} tok/s",
        "max_memory_bytes": lambda: f"max memory {fmt_gib(v)}",
        "max_vram_bytes": lambda: f"max VRAM {fmt_gib(v)}",
        "context": lambda: f"context {v:,}",
        "uses": lambda: "use " + "+".join(v),
        "licenses": lambda: "license " + "|".join(v),
        "families": lambda: "family " + "|".join(v),
        "formats": lambda: "format " + "|".join(v),
        "quants": lambda: "quant " + "|".join(v),
        "min_params": lambda: f"min params {fmt_count(v)}",
        "max_params": lambda: f"max params {fmt_count(v)}",
    }.get(name, lambda: f"{name} {v}")()


# ------------------------------------------------------------------------------------------------
# value parsers (also used for CLI flags)


def parse_params(text: str) -> int:
    """'7b', '7B', '500m', '1.5B', '70' (billions) -> parameter count."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(b|bn|m|k|t)?\s*(params?|parameters?)?\s*", str(text), re.I)
    if not m:
        raise ConstraintError(f"not a parameter count: {text!r} (use e.g. 7B or 500M)")
    mult = {"b": 1e9, "bn": 1e9, "m": 1e6, "k": 1e3, "t": 1e12, "": 1e9}[(m.group(2) or "").lower()]
    return int(float(m.group(1)) * mult)


def parse_use(text: str) -> str:
    key = text.strip().lower().replace(" ", "-")
    if key in _USE_ALIASES:
        return _USE_ALIASES[key]
    raise ConstraintError(f"unknown use {text!r} (known: {', '.join(USES)})")


def parse_format(text: str) -> str:
    key = text.strip().lower()
    if key not in _FORMATS:
        raise ConstraintError(f"unknown format {text!r} (known: {', '.join(_FORMATS)})")
    return key


def parse_quant(text: str) -> str:
    try:
        return normalize_quant(text)
    except UnknownQuantizationError as exc:
        raise ConstraintError(str(exc)) from None


# ------------------------------------------------------------------------------------------------
# free text

_NUM = r"(\d+(?:\.\d+)?)"
_MIN = r"(?:min(?:imum)?|at\s+least|>=|>|over|above|more\s+than)"
_MAX = r"(?:max(?:imum)?|at\s+most|<=|<|under|below|less\s+than|up\s+to|within|in)"
_TPS = r"(?:tok(?:en)?s?\s*/\s*s(?:ec)?|t/s|tps|tokens?\s+per\s+sec(?:ond)?)"
_MEM_UNIT = r"(?:t|tb|tib|g|gb|gib|m|mb|mib)"
_MEM_KIND = r"(?:\s*(?:of\s+)?(ram|vram|memory|mem|gpu|unified))?"

_RULES: list[tuple[re.Pattern, str]] = [
    (re.compile(rf"^(?:(prefill|prompt)\s+)?{_MIN}\s*{_NUM}\s*{_TPS}(?:\s+(prefill|prompt|decode|generation))?$", re.I), "tps_min"),
    (re.compile(rf"^{_NUM}\s*\+?\s*{_TPS}(?:\s+(prefill|prompt|decode|generation))?$", re.I), "tps_bare"),
    (re.compile(rf"^(prefill|prompt)\s*(?:min\s*)?{_NUM}\s*(?:{_TPS})?$", re.I), "prefill"),
    (re.compile(rf"^{_MAX}\s*{_NUM}\s*({_MEM_UNIT}){_MEM_KIND}$", re.I), "mem"),
    (re.compile(rf"^(ram|vram|memory|mem)\s*(?:<=|<|max|under)?\s*{_NUM}\s*({_MEM_UNIT})$", re.I), "mem_kind_first"),
    (re.compile(rf"^(?:context|ctx|n_ctx)\s*(?:of\s+|=\s*|>=\s*|at\s+least\s+)?{_NUM}\s*(k|m)?(?:\s*tokens?)?$", re.I), "ctx"),
    (re.compile(rf"^{_NUM}\s*(k|m)?\s*(?:tokens?\s+)?context$", re.I), "ctx_after"),
    (re.compile(r"^(?:use\s+case|usecase|use|for|task)\b\s*[:=]?\s*([\w\s,+-]+)$", re.I), "use"),
    (re.compile(r"^(?:licen[cs]e|lic)\s*[:=]?\s*([\w.\-|]+)$", re.I), "license"),
    (re.compile(r"^family\s*[:=]?\s*([\w.\-|]+)$", re.I), "family"),
    (re.compile(r"^format\s*[:=]?\s*([\w|]+)$", re.I), "format"),
    (re.compile(r"^(?:quant|quantization|quantisation)\s*[:=]?\s*([\w.\-|]+)$", re.I), "quant"),
    (re.compile(rf"^{_MIN}\s*{_NUM}\s*(b|bn|m)\s*(?:params?|parameters?)?$", re.I), "params_min"),
    (re.compile(rf"^{_MAX}\s*{_NUM}\s*(b|bn|m)\s*(?:params?|parameters?)?$", re.I), "params_max"),
    (re.compile(rf"^(?:params?|parameters?|size)\s*(<=|<|>=|>|max|min)\s*{_NUM}\s*(b|bn|m)?$", re.I), "params_cmp"),
    (re.compile(rf"^{_NUM}\s*(b|m)?\s*(?:-|to)\s*{_NUM}\s*(b|m)\s*(?:params?|parameters?)?$", re.I), "params_range"),
    (re.compile(r"^(?:any|all|no\s+fit\s+check|include\s+no-?fit|show\s+all)$", re.I), "nofit"),
]

_EXAMPLES = '"min 20 tok/s", "max 8GB RAM", "context 16k", "use coding", "license apache-2.0", "max 14B params", "prefill 300"'


def _split(text: str) -> list[str]:
    parts = re.split(r"\s*(?:,|;|\band\b|\bwith\b)\s*", text.strip(), flags=re.I)
    return [p.strip() for p in parts if p and p.strip()]


def _apply(c: Constraints, kind: str, m: re.Match, piece: str) -> None:
    g = m.groups()
    if kind in ("tps_min", "tps_bare"):
        words = [w for w in g if w and not re.fullmatch(_NUM, w)]
        value = float([w for w in g if w and re.fullmatch(_NUM, w)][0])
        if any(w.lower() in ("prefill", "prompt") for w in words):
            c.min_prefill_tps = value
        else:
            c.min_tps = value
    elif kind == "prefill":
        c.min_prefill_tps = float(g[1])
    elif kind == "mem":
        value = parse_size(g[0] + g[1])
        if (g[2] or "").lower() in ("vram", "gpu"):
            c.max_vram_bytes = value
        else:
            c.max_memory_bytes = value
    elif kind == "mem_kind_first":
        value = parse_size(g[1] + g[2])
        if g[0].lower() == "vram":
            c.max_vram_bytes = value
        else:
            c.max_memory_bytes = value
    elif kind in ("ctx", "ctx_after"):
        c.context = parse_tokens(g[0] + (g[1] or ""))
    elif kind == "use":
        for u in re.split(r"[\s,+]+", g[0].strip()):
            if u and u.lower() not in ("and", "or"):
                use = parse_use(u)
                if use not in c.uses:
                    c.uses.append(use)
    elif kind == "license":
        c.licenses += [x.lower() for x in g[0].split("|") if x]
    elif kind == "family":
        c.families += [x.lower() for x in g[0].split("|") if x]
    elif kind == "format":
        c.formats += [parse_format(x) for x in g[0].split("|") if x]
    elif kind == "quant":
        c.quants += [parse_quant(x) for x in g[0].split("|") if x]
    elif kind == "params_min":
        c.min_params = parse_params(g[0] + g[1])
    elif kind == "params_max":
        c.max_params = parse_params(g[0] + g[1])
    elif kind == "params_cmp":
        value = parse_params(g[1] + (g[2] or "b"))
        if g[0].lower() in ("<=", "<", "max"):
            c.max_params = value
        else:
            c.min_params = value
    elif kind == "params_range":
        c.min_params = parse_params(g[0] + (g[1] or g[3]))
        c.max_params = parse_params(g[2] + g[3])
    elif kind == "nofit":
        c.fits = False


def parse_constraints(text: str | list[str] | tuple[str, ...] | None) -> Constraints:
    """Parse free-text constraints (comma/`and`-separated pieces; bare use words like "coding" work too)."""
    if text is None:
        return Constraints()
    if isinstance(text, (list, tuple)):
        return _parse_args([str(t) for t in text])
    if len(text) > 2000:
        raise ConstraintError("constraint text longer than 2000 characters")
    c = Constraints()
    for piece in _split(text):
        norm = " ".join(piece.split())
        for pat, kind in _RULES:
            m = pat.match(norm)
            if m:
                _apply(c, kind, m, norm)
                break
        else:
            words = norm.lower().split()
            if words and all(w in _USE_ALIASES for w in words):
                for w in words:
                    if _USE_ALIASES[w] not in c.uses:
                        c.uses.append(_USE_ALIASES[w])
                continue
            raise ConstraintError(f"cannot understand constraint {piece!r}; examples: {_EXAMPLES}")
    return c.check()


def _parse_args(args: list[str]) -> Constraints:
    """Command-line words: each argument is a constraint, or joins the next ones until they parse
    (`llmfit recommend use coding "min 20 tok/s"`)."""
    pieces, buf = [], ""
    for a in args:
        buf = f"{buf} {a}".strip()
        try:
            parse_constraints(buf)
        except ConstraintError:
            continue
        pieces.append(buf)
        buf = ""
    if buf:
        parse_constraints(buf)  # raises with the piece it cannot understand
    return parse_constraints(", ".join(pieces))


def from_flags(min_tps=None, max_memory=None, max_vram=None, context=None, use=(), license=(), family=(), fmt=(),
               quant=(), min_params=None, max_params=None, prefill_min=None, fits: bool = True) -> Constraints:
    """Constraints from CLI flag values (strings as typed)."""
    def num(v, what):
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ConstraintError(f"{what} must be a number, got {v!r}") from None
        if x <= 0:
            raise ConstraintError(f"{what} must be positive, got {v!r}")
        return x

    c = Constraints(
        min_tps=num(min_tps, "--min-tps") if min_tps is not None else None,
        min_prefill_tps=num(prefill_min, "--prefill-min") if prefill_min is not None else None,
        max_memory_bytes=parse_size(max_memory) if max_memory else None,
        max_vram_bytes=parse_size(max_vram) if max_vram else None,
        context=parse_tokens(context) if context else None,
        uses=[parse_use(u) for x in use for u in str(x).split(",") if u.strip()],
        licenses=[x.lower() for v in license for x in str(v).split(",") if x.strip()],
        families=[x.lower() for v in family for x in str(v).split(",") if x.strip()],
        formats=[parse_format(x) for v in fmt for x in str(v).split(",") if x.strip()],
        quants=[parse_quant(x) for v in quant for x in str(v).split(",") if x.strip()],
        min_params=parse_params(min_params) if min_params else None,
        max_params=parse_params(max_params) if max_params else None,
        fits=fits,
    )
    return c.check()
