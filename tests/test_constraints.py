"""Constraint language: what people type, CLI flags, and clear errors."""

from __future__ import annotations

import pytest

from llmfit_core.constraints import Constraints, from_flags, parse_constraints, parse_params
from llmfit_core.errors import ConstraintError
from llmfit_core.units import GIB, parse_size, parse_tokens


@pytest.mark.parametrize("text, expected", [
    ("min 20 tok/s, max 8GB RAM", {"min_tps": 20.0, "max_memory_bytes": 8 * GIB}),
    ("at least 30 tokens/s and under 12 GB vram", {"min_tps": 30.0, "max_vram_bytes": 12 * GIB}),
    ("30 t/s", {"min_tps": 30.0}),
    (">= 12.5 tps", {"min_tps": 12.5}),
    ("context 16k", {"context": 16384}),
    ("32k context", {"context": 32768}),
    ("ctx 8192", {"context": 8192}),
    ("use coding", {"uses": ["coding"]}),
    ("coding", {"uses": ["coding"]}),
    ("for coding and chat", {"uses": ["coding", "chat"]}),
    ("use tools", {"uses": ["tool-use"]}),
    ("prefill 300", {"min_prefill_tps": 300.0}),
    ("min 500 tok/s prefill", {"min_prefill_tps": 500.0}),
    ("license apache-2.0", {"licenses": ["apache-2.0"]}),
    ("license apache-2.0|mit", {"licenses": ["apache-2.0", "mit"]}),
    ("max 14B params", {"max_params": 14_000_000_000}),
    ("min 1.5b", {"min_params": 1_500_000_000}),
    ("params <= 8b", {"max_params": 8_000_000_000}),
    ("7b-14b", {"min_params": 7_000_000_000, "max_params": 14_000_000_000}),
    ("max 512MB", {"max_memory_bytes": 512 * 1024**2}),
    ("quant q4_k_m", {"quants": ["Q4_K_M"]}),
    ("format gguf", {"formats": ["gguf"]}),
    ("family qwen-2.5", {"families": ["qwen-2.5"]}),
    ("show all", {"fits": False}),
    ("", {}),
])
def test_parses_what_people_type(text, expected):
    c = parse_constraints(text)
    for k, v in expected.items():
        assert getattr(c, k) == v, (text, k)
    unset = {f for f in Constraints.__dataclass_fields__ if f not in expected}
    default = Constraints()
    for f in unset:
        assert getattr(c, f) == getattr(default, f), (text, f)


def test_command_line_words_are_grouped():
    c = parse_constraints(["use", "coding", "min 20 tok/s, max 8GB", "context", "16k"])
    assert c.uses == ["coding"] and c.min_tps == 20 and c.max_memory_bytes == 8 * GIB and c.context == 16384


@pytest.mark.parametrize("text, match", [
    ("fast please", "cannot understand constraint 'fast please'"),
    ("max 8 bananas", "cannot understand constraint 'max 8 bananas'"),
    ("use cooking", "unknown use 'cooking'"),
    ("min 10b, max 5b", "contradictory constraints: min params 10B > max params 5B"),
    ("quant Q9_ZZ", "unknown quantization"),
    ("format onnx", "unknown format 'onnx'"),
    ("context 99999m", "beyond any model"),
    ("min 0 tok/s", "must be positive"),
])
def test_errors_name_the_piece(text, match):
    with pytest.raises(ConstraintError, match=match):
        parse_constraints(text)


def test_unparseable_word_in_argv_is_reported():
    with pytest.raises(ConstraintError, match="cannot understand constraint 'bogus'"):
        parse_constraints(["use coding", "bogus"])


def test_flags_and_merge():
    flags = from_flags(min_tps="20", max_memory="8GB", context="16k", use=("coding",), license=("apache-2.0",),
                       prefill_min="300", fmt=("gguf",), min_params="1B", max_params="14B")
    assert (flags.min_tps, flags.max_memory_bytes, flags.context, flags.min_prefill_tps) == (20, 8 * GIB, 16384, 300)
    assert flags.uses == ["coding"] and flags.licenses == ["apache-2.0"] and flags.formats == ["gguf"]
    merged = parse_constraints("min 5 tok/s, use chat").merge(flags)
    assert merged.min_tps == 20 and merged.uses == ["coding"]  # flags win
    with pytest.raises(ConstraintError, match="--min-tps must be a number"):
        from_flags(min_tps="fast")
    with pytest.raises(ConstraintError, match="--min-tps must be positive"):
        from_flags(min_tps="-3")
    with pytest.raises(ConstraintError, match="contradictory"):
        parse_constraints("min 20b").merge(from_flags(max_params="7b"))


def test_value_parsers():
    assert parse_size("8GB") == parse_size("8 GiB") == parse_size("8") == 8 * GIB
    assert parse_size("1.5T") == int(1.5 * 1024**4)
    assert parse_tokens("16K") == 16384 and parse_tokens("1m") == 1024 * 1024 and parse_tokens("4096") == 4096
    assert parse_params("500M") == 500_000_000 and parse_params("70") == 70_000_000_000
    for bad in ("", "8 apples", "-1GB"):
        with pytest.raises(ConstraintError):
            parse_size(bad)


def test_overlong_input_is_refused():
    with pytest.raises(ConstraintError, match="longer than"):
        parse_constraints("use coding, " * 500)
