"""Who made a catalog entry: the model's own publisher, a community fine-tune / merge, or a re-packaging.

`classify(entry)` -> (publisher, modified). `recommend` shows first-party models and the well-known tunes listed
here by default; `--community` adds other fine-tunes; entries with a `modified` reason (uncensored, abliterated,
heretic, merges, pruned; and models that are no standalone chat model in llama.cpp / Ollama: diffusion LMs and
speculative-decoding drafters) only when asked for (`--modified`).
"""

from __future__ import annotations

import re

# Hub organisations that train and release their own models (their uploads are first-party).
FIRST_PARTY_ORGS = frozenset({
    "meta-llama", "Qwen", "google", "mistralai", "microsoft", "deepseek-ai", "openai", "zai-org", "THUDM", "nvidia",
    "ibm-granite", "allenai", "HuggingFaceTB", "LiquidAI", "MiniMaxAI", "moonshotai", "tiiuae", "01-ai", "internlm",
    "openbmb", "CohereForAI", "CohereLabs", "tencent", "baidu", "XiaomiMiMo", "ByteDance-Seed", "inclusionAI",
    "stepfun-ai", "swiss-ai", "LGAI-EXAONE", "upstage", "Salesforce", "apple", "EleutherAI", "bigcode", "stabilityai",
    "ai21labs", "Snowflake", "databricks", "mosaicml", "bigscience", "facebook", "kakaocorp", "naver-hyperclovax",
    "rednote-hilab", "ServiceNow-AI", "meituan-longcat", "Motif-Technologies", "PrimeIntellect",
    "jinaai", "BAAI", "nomic-ai", "intfloat", "sentence-transformers", "Alibaba-NLP",
})
# Organisations that publish quantized / converted copies of other people's models.
REPACKAGERS = frozenset({
    "unsloth", "bartowski", "mradermacher", "lmstudio-community", "mlx-community", "TheBloke", "QuantFactory",
    "ggml-org", "RedHatAI", "neuralmagic", "cyankiwi", "QuantTrio", "bullerwins", "turboderp", "ModelCloud",
    "ISTA-DASLab", "nm-testing", "Intel", "second-state", "MaziyarPanahi", "hugging-quants", "casperhansen",
    "TechxGenus", "LoneStriker", "solidrust", "inferencerlabs", "NexaAI", "lmstudio-ai", "gaunernst", "OpenVINO",
    "SillyTilly", "nightmedia", "McG-221",
})
# Uploads that change a model's behaviour or structure in ways people must ask for (names only: the model's own
# short name, never the uploader's).
_MODIFIED = (
    ("abliterated", re.compile(r"abliterat|obliterat|lorablated|refusal[-_]?removed", re.I)),
    ("uncensored", re.compile(r"uncensor|decensor|unalign|dealign|jailbr|nsfw|erotic|lewd|unfiltered|unleashed|"
                              r"no[-_]?refusal|crack|evil|toxic|(?:^|[-_.])dark(?:[-_.]|$)", re.I)),
    ("heretic", re.compile(r"heretic", re.I)),
    ("merge", re.compile(r"merge|slerp|(?:^|[-_.])(?:ties|dare|della|passthrough|frankenmoe|franken)(?:[-_.]|$)|"
                         r"model[-_]?stock|(?:^|[-_.])(?:mix|blend)(?:[-_.]|$)", re.I)),
    ("pruned", re.compile(r"(?:^|[-_.])reap(?:[-_.]|$)|prune|pruning|(?:^|[-_.])reap\d", re.I)),
    ("roleplay", re.compile(r"(?:^|[-_.])rp(?:[-_.]|$)|roleplay|role[-_]play", re.I)),
)
# Models a llama-server / Ollama user cannot chat with on their own, by name or architecture: diffusion LMs (llama.cpp
# runs Dream / LLaDA only through its separate llama-diffusion-cli, examples/diffusion) and speculative-decoding
# drafters (DFlash / EAGLE-3 / Medusa heads, "-draft" models need a target model beside them). An "-MTP" upload is
# the whole model with its multi-token-prediction layers kept: standalone, not matched.
_NOT_STANDALONE = (  # (reason, short-name pattern, architecture pattern or None)
    ("diffusion", re.compile(r"diffusion|diffcoder|llada|^dream-|_dream_", re.I),
     re.compile(r"diffu|llada|^dream$", re.I)),
    ("draft", re.compile(r"dflash|medusa|eagle3|speculator|(?:^|[-_.])draft(?:[-_.]|$)", re.I), None),
)
_PACKAGING = re.compile(
    r"(?:^|[-_.])(gguf|mlx|awq|gptq|exl2|exl3|bnb|fp8|nvfp4|mxfp4|int4|int8|w4a16|w8a8|w8a16|autoround|hqq|dwq|"
    r"\d+[-_]?bit|4bit|8bit|quantized|fp8[-_]dynamic)(?:[-_.]|$)", re.I)

# Community instruction tunes that people widely run for a stated reason: shown by default like first-party models.
WELL_KNOWN_TUNES = {
    "NousResearch/Hermes-3-Llama-3.1-8B": "Nous Research's general instruction tune of Llama 3.1 (function calling, "
                                          "structured output; technical report arXiv:2408.11857)",
    "NousResearch/Hermes-3-Llama-3.1-70B": "Nous Research's general instruction tune of Llama 3.1 (arXiv:2408.11857)",
    "NousResearch/Hermes-3-Llama-3.1-405B": "Nous Research's general instruction tune of Llama 3.1 (arXiv:2408.11857)",
    "NousResearch/Hermes-4-14B": "Nous Research's hybrid-reasoning tune (Hermes 4 technical report)",
    "NousResearch/Hermes-4-70B": "Nous Research's hybrid-reasoning tune (Hermes 4 technical report)",
    "NousResearch/Hermes-4-405B": "Nous Research's hybrid-reasoning tune (Hermes 4 technical report)",
    "agentica-org/DeepCoder-14B-Preview": "open RL coding tune of DeepSeek-R1-Distill-Qwen-14B with published "
                                          "LiveCodeBench results, data and code",
    "open-thoughts/OpenThinker3-7B": "open reasoning tune with its full training set published (OpenThoughts3)",
}


def modification(short_name: str) -> str | None:
    """Why a repo (by its own short name) is hidden by default, or None."""
    for reason, rx in _MODIFIED:
        if rx.search(short_name):
            return reason
    return None


def not_standalone(short_name: str, arch: str | None) -> str | None:
    """"diffusion" or "draft" when the model (by its own short name or architecture) is no standalone chat model
    in llama-server / Ollama, else None."""
    for reason, name_rx, arch_rx in _NOT_STANDALONE:
        if name_rx.search(short_name) or (arch and arch_rx and arch_rx.search(arch)):
            return reason
    return None


def classify(e) -> tuple[str, str | None]:
    """(publisher, modified) of a catalog entry: "first-party", "community" or "repackage"."""
    org, short = e.id.split("/", 1) if "/" in e.id else ("", e.id)
    modified = modification(short) or not_standalone(short, e.arch)
    if e.variant_of or org in REPACKAGERS or e.format in ("gguf", "mlx", "awq", "gptq"):
        return "repackage", modified
    if org in FIRST_PARTY_ORGS:
        return "first-party", modified
    if _PACKAGING.search(short) and not modified:
        return "repackage", modified
    return "community", modified


def shown_by_default(e) -> bool:
    """First-party models, the listed well-known tunes and the user's own (private catalog / unclassified)
    entries; never a modified upload."""
    if e.modified:
        return False
    return e.publisher in ("first-party", "") or bool(e.well_known) or e.src.get("origin") == "private"


def visible(e, community: bool = False, modified: bool = False) -> bool:
    """Whether `recommend` considers `e`: by default `shown_by_default`; `community` adds every unmodified upload;
    `modified` adds the modified ones too."""
    if modified:
        return True
    if community:
        return not e.modified
    return shown_by_default(e)
