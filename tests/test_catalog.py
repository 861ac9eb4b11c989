"""Catalog: shipped data, validation (drop/repair/merge), private registries, lookups, Hub update, CLI."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmfit_core.catalog import load_catalog, resolve_catalog_ref
from llmfit_core.catalog.entry import CatalogEntry
from llmfit_core.catalog.store import Catalog, clear_cache, load_file
from llmfit_core.catalog.validate import recompute_params, validate_entry
from llmfit_core.errors import CatalogError, ResolveError

ROOT = Path(__file__).resolve().parents[1]


def _build_module():
    spec = importlib.util.spec_from_file_location("build_catalog", ROOT / "training" / "build_catalog.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pytestmark = pytest.mark.usefixtures("isolated_catalog")


def llama8b(**kw) -> dict:
    """Llama-3.1-8B's published config facts as a catalog entry dict."""
    d = dict(id="acme/Llama-8B", family="llama-3.1", arch="llama", params=8_030_261_248, active_params=0, n_layers=32,
             hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128, vocab_size=128256, max_context=131072,
             ffn_size=14336, license="llama3.1", uses=["chat"])
    d.update(kw)
    return d


# ---------------------------------------------------------------------------------------------
# shipped data


def test_shipped_catalog_has_2000_models_whose_params_match_their_architecture():
    cat = load_catalog()
    assert len(cat) >= 2000
    assert len(cat.models) >= 2000
    bad, checked = [], 0
    for e in cat:
        rc = recompute_params(e)
        assert rc is not None, e.id
        if e.source_of("params").startswith("declared (hybrid"):
            assert 0.5 < rc.total / e.params < 2, e.id  # hybrid: plausible, flagged as unverified
            continue
        checked += 1
        if abs(rc.total / e.params - 1) > 0.05:
            bad.append(e.id)
    assert bad == [] and checked >= 2000
    # every entry says where its fields come from
    assert all(e.src.get("*") for e in cat)


def test_shipped_file_is_compact_and_attributed():
    data = ROOT / "llmfit_core" / "data"
    assert (data / "catalog.json.gz").stat().st_size < 3_000_000
    sources = (data / "CATALOG_SOURCES.md").read_text()
    assert "MIT" in sources and "AlexsJones/llmfit" in sources
    report = (data / "catalog_build_report.md").read_text()
    assert "dropped" in report and "repaired" in report


def test_well_known_models_have_correct_facts():
    cat = load_catalog()
    e = cat.get("meta-llama/Llama-3.1-8B-Instruct")
    assert (e.n_layers, e.hidden_size, e.n_heads, e.n_kv_heads, e.vocab_size, e.ffn_size) == (32, 4096, 32, 8, 128256, 14336)
    assert e.params == 8_030_261_248 and e.gguf and "chat" in e.uses
    q = cat.get("Qwen/Qwen3-30B-A3B")
    assert q.is_moe and q.n_experts == 128 and q.n_experts_used == 8
    assert 2.5e9 < q.active_params < 4e9  # "A3B"
    assert "coding" in cat.get("Qwen/Qwen2.5-Coder-7B-Instruct").uses


def test_resolve_catalog_ref_forms():
    exact = resolve_catalog_ref("meta-llama/Llama-3.1-8B-Instruct", None)
    assert exact is not None and exact.quant == "Q4_K_M" and exact.source == "catalog"
    assert resolve_catalog_ref("META-LLAMA/llama-3.1-8b-instruct", None).ref == exact.ref
    short = resolve_catalog_ref("llama-3.1-8b-instruct", "Q8_0")
    assert short.ref == exact.ref and short.quant == "Q8_0"
    # Q8_0 of an 8B model: 8.5 bits on most weights -> between 7.5 and 8.5 GiB; Q4_K_M (llama.cpp: 4.58G) much less
    assert 7.5 * 2**30 < short.weight_bytes < 8.5 * 2**30
    assert 4.4 * 2**30 < exact.weight_bytes < 4.8 * 2**30
    assert resolve_catalog_ref("no-such-model-anywhere-xyz", None) is None
    assert resolve_catalog_ref("", None) is None


def test_ambiguous_short_name_lists_candidates():
    a = CatalogEntry.from_dict(llama8b(id="org-a/Same-Name"))
    b = CatalogEntry.from_dict(llama8b(id="org-b/Same-Name"))
    with pytest.raises(ResolveError, match="ambiguous.*org-a/Same-Name"):
        Catalog([a, b]).find("same-name")


# ---------------------------------------------------------------------------------------------
# validation


def test_recompute_params_matches_published_counts():
    e = CatalogEntry.from_dict(llama8b())
    assert abs(recompute_params(e).total / 8_030_261_248 - 1) < 0.001  # Llama-3.1-8B exactly
    moe = CatalogEntry.from_dict(llama8b(id="x/moe", arch="qwen3_moe", params=30_532_122_624, n_layers=48, hidden_size=2048,
                                         n_heads=32, n_kv_heads=4, vocab_size=151936, ffn_size=0, n_experts=128,
                                         n_experts_used=8, expert_ffn_size=768))
    rc = recompute_params(moe)
    assert abs(rc.total / 30_532_122_624 - 1) < 0.01  # Qwen3-30B-A3B
    assert abs(rc.active / 3.3e9 - 1) < 0.1


def test_validation_repairs_a_7b_declared_with_300k_params():
    e = CatalogEntry.from_dict(llama8b(id="x/Broken-7B", params=300_000))
    repairs = validate_entry(e)
    assert e.params == recompute_params(e).total and e.params > 7e9
    assert repairs and "far too small" in repairs[0]
    assert "recomputed from architecture" in e.src["params"]


def test_validation_drops_stub_and_inconsistent_entries():
    with pytest.raises(CatalogError, match="stub"):
        validate_entry(CatalogEntry.from_dict(llama8b(id="hf-internal-testing/tiny-random-llama")))
    with pytest.raises(CatalogError, match="toy model"):
        validate_entry(CatalogEntry.from_dict(llama8b(id="x/nano", params=50_000, hidden_size=64, n_layers=2, n_heads=2,
                                                      n_kv_heads=2, head_dim=32, vocab_size=256, ffn_size=128)))
    with pytest.raises(CatalogError, match="missing architecture fields: hidden_size"):
        validate_entry(CatalogEntry.from_dict(llama8b(hidden_size=0)))
    with pytest.raises(CatalogError, match="disagrees"):  # named 12B, declared 12B, but the fields give 8B: suspect
        validate_entry(CatalogEntry.from_dict(llama8b(id="x/Thing-12B", params=12_000_000_000)))
    with pytest.raises(CatalogError, match="disagrees"):  # 3x off and no name to side with the architecture
        validate_entry(CatalogEntry.from_dict(llama8b(id="x/Thing", params=24_000_000_000)))
    with pytest.raises(CatalogError, match="not divisible"):
        validate_entry(CatalogEntry.from_dict(llama8b(n_kv_heads=7)))


def test_build_drops_stub_repairs_and_merges_duplicates(tmp_path):
    build = _build_module()

    def raw(name, **kw):
        d = {"name": name, "provider": "x", "parameters_raw": 8_030_261_248, "architecture": "llama", "num_hidden_layers": 32,
             "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
             "moe_intermediate_size": 14336, "context_length": 131072, "format": "gguf", "quantization": "Q4_K_M",
             "use_case": "Instruction following, chat", "is_moe": False, "license": "llama3.1",
             "gguf_sources": [{"provider": "bartowski", "repo": "bartowski/Llama-8B-Instruct-GGUF"}]}
        d.update(kw)
        return d

    rows = [
        raw("meta-x/Llama-8B-Instruct"),
        raw("mirror-y/Llama-8B-Instruct", gguf_sources=[]),  # a re-upload: merged
        raw("mlx-community/Llama-8B-Instruct-4bit", format="mlx", parameters_raw=1_254_000_000),  # packed count: repaired + linked
        raw("broken/Seven-B", parameters_raw=300_000),  # 7B with 300k params: repaired
        raw("tester/tiny-random-llama"),  # stub: dropped
        raw("meta-x/Llama-8B-Instruct"),  # exact duplicate: dropped
        raw("nope/No-Arch", num_hidden_layers=None, hidden_size=None),  # broken: dropped
    ]
    src = tmp_path / "src.json.gz"
    src.write_bytes(gzip.compress(json.dumps(rows).encode()))
    stats = build.build(src, tmp_path / "out")
    doc = json.loads(gzip.decompress((tmp_path / "out" / "catalog.json.gz").read_bytes()))
    ids = {m["id"]: m for m in doc["models"]}
    assert set(ids) == {"meta-x/Llama-8B-Instruct", "mlx-community/Llama-8B-Instruct-4bit", "broken/Seven-B"}
    assert ids["meta-x/Llama-8B-Instruct"]["mirrors"] == ["mirror-y/Llama-8B-Instruct"]
    assert ids["meta-x/Llama-8B-Instruct"]["mlx"] == ["mlx-community/Llama-8B-Instruct-4bit"]
    assert ids["mlx-community/Llama-8B-Instruct-4bit"]["variant_of"] == "meta-x/Llama-8B-Instruct"
    assert ids["broken/Seven-B"]["params"] > 7e9
    assert stats["dropped"]["exact duplicate id"] == 1 and stats["dropped"]["test stub (name)"] == 1
    assert sum(stats["repairs"].values()) == 2
    report = (tmp_path / "out" / "catalog_build_report.md").read_text()
    assert "test stub (name)" in report and "far too small" in report


# ---------------------------------------------------------------------------------------------
# private registries


def test_private_catalog_skips_malformed_entries_and_keeps_the_rest(tmp_path, monkeypatch):
    good = llama8b(id="corp/Internal-8B")
    f = tmp_path / "corp.json"
    f.write_text(json.dumps({"models": [good, {"id": "corp/NoArch", "params": 5}, "not an object",
                                        llama8b(id="corp/Bad-Heads", n_kv_heads=7)]}))
    (tmp_path / "broken.json").write_text("{ not json")
    monkeypatch.setenv("LLMFIT_CATALOG_PATH", str(tmp_path))
    cat = load_catalog()
    assert cat.get("corp/Internal-8B") is not None
    assert cat.get("corp/Internal-8B").src["catalog_file"] == str(f)
    assert len(cat) > 2000  # merged over the shipped catalog
    text = "\n".join(cat.warnings)
    assert f"{f}: entry 2" in text and "missing architecture fields" in text
    assert f"{f}: entry 3" in text and "not an object" in text
    assert "corp/Bad-Heads" in text and "broken.json" in text and "invalid JSON" in text
    assert resolve_catalog_ref("internal-8b", "Q4_K_M").ref == "corp/Internal-8B"


def test_private_entry_overrides_shipped_one(tmp_path, monkeypatch):
    f = tmp_path / "over.jsonl"
    f.write_text(json.dumps(llama8b(id="meta-llama/Llama-3.1-8B-Instruct", license="corp-approved")) + "\n")
    monkeypatch.setenv("LLMFIT_CATALOG_PATH", str(f))
    assert load_catalog().get("meta-llama/Llama-3.1-8B-Instruct").license == "corp-approved"


def test_oversized_catalog_file_is_refused(tmp_path, monkeypatch):
    from llmfit_core.catalog import store

    f = tmp_path / "big.json"
    f.write_text("[" + " " * 2000 + "]")
    monkeypatch.setattr(store, "MAX_FILE_BYTES", 1000)
    with pytest.raises(CatalogError, match="larger than"):
        load_file(f, "test")


def test_cli_catalog_validate_reports_entries_and_exit_code(tmp_path):
    from llmfit_core.cli.main import cli

    f = tmp_path / "c.json"
    f.write_text(json.dumps([llama8b(id="a/Good"), llama8b(id="a/Stub-test", params=1), {"id": 3}]))
    res = CliRunner().invoke(cli, ["catalog", "validate", str(f)])
    assert res.exit_code == 1
    assert "1 valid, 2 invalid" in res.output
    good = tmp_path / "g.json"
    good.write_text(json.dumps([llama8b(id="a/Good")]))
    assert CliRunner().invoke(cli, ["catalog", "validate", str(good)]).exit_code == 0
    res = CliRunner().invoke(cli, ["catalog", "validate", str(tmp_path / "missing.json")])
    assert res.exit_code == 1 and "Traceback" not in res.output


def test_catalog_add_local_config_records_model(tmp_path):
    from llmfit_core.cli.main import cli

    d = tmp_path / "MyModel"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16"}))  # Llama-3.2-1B's shape
    res = CliRunner().invoke(cli, ["catalog", "add", str(d)])
    assert res.exit_code == 0, res.output
    clear_cache()
    e = load_catalog().get("local:MyModel")
    assert e is not None and abs(e.params / 1.236e9 - 1) < 0.02
    res = CliRunner().invoke(cli, ["catalog", "add", "not a path nor a repo"])
    assert res.exit_code == 1 and "neither" in res.output


# ---------------------------------------------------------------------------------------------
# Hub


def test_catalog_update_against_fake_hub(fake_hub, hf_env, tmp_path):
    from fakehub import GGUFShape, llama_config

    from llmfit_core.catalog.hub import update_catalog

    cfg = llama_config(hidden=2048, n_layers=16, n_heads=32, n_kv_heads=8, ffn=8192, vocab=32000, context=8192)
    fake_hub.add_safetensors_repo("catupd-org/Cat-Llama-1B", cfg, downloads=3)
    shape = GGUFShape(n_layers=16, hidden=2048, ffn=8192, n_heads=32, n_kv_heads=8, vocab=32000, context=8192, name="cat")
    import dataclasses

    fake_hub.add_gguf_repo("catupd-org/Cat-Llama-1B-GGUF", {"cat-llama-1b-Q4_K_M.gguf": shape,
                                                             "cat-llama-1b-Q8_0.gguf": dataclasses.replace(shape, quant="Q8_0")},
                           downloads=2)
    res = update_catalog(author="catupd-org", limit=10, out_dir=tmp_path / "cat")
    assert res.added == ["catupd-org/Cat-Llama-1B"]
    assert any("Cat-Llama-1B-GGUF" in u for u in res.updated)
    rows = [json.loads(x) for x in (tmp_path / "cat" / "hub.jsonl").read_text().splitlines()]
    (entry,) = [r for r in rows if r["id"] == "catupd-org/Cat-Llama-1B"]
    sizes = entry["gguf"][0]["quants"]
    repo = fake_hub.repos["catupd-org/Cat-Llama-1B-GGUF"]
    assert sizes["Q4_K_M"] == repo.files["cat-llama-1b-Q4_K_M.gguf"].size
    assert sizes["Q8_0"] == repo.files["cat-llama-1b-Q8_0.gguf"].size
    assert entry["src"]["params"] == "hub safetensors metadata"
    # the recorded size becomes the spec's file size
    e = CatalogEntry.from_dict(entry)
    assert e.to_spec("Q8_0").file_bytes == sizes["Q8_0"]


def test_catalog_update_offline_is_one_line_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from llmfit_core.cli.main import cli

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    res = CliRunner().invoke(cli, ["catalog", "update", "--limit", "2"])
    assert res.exit_code == 1
    assert "Traceback" not in res.output and res.output.count("\n") <= 2
    assert "Hub" in res.output


def test_catalog_add_local_gguf_records_exact_size(tmp_path):
    from llmfit_core.catalog.hub import add_ref
    from llmfit_core.synth import shape_params, write_synthetic_gguf

    path = tmp_path / "tiny-llama.gguf"
    write_synthetic_gguf(path, "llama-tiny", "F16")
    e = add_ref(str(path), out_dir=tmp_path / "cat")
    assert e.id == "local:tiny-llama" and e.arch == "llama" and e.n_layers == 4
    assert abs(e.params / shape_params("llama-tiny") - 1) < 0.01
    assert e.gguf[0]["quants"] == {"F16": path.stat().st_size}
    rows = [json.loads(x) for x in (tmp_path / "cat" / "added.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["local:tiny-llama"]


def test_catalog_update_refreshes_gguf_sizes_of_known_models(fake_hub, hf_env, tmp_path):
    import dataclasses

    from fakehub import GGUFShape

    from llmfit_core.catalog.hub import update_catalog

    shape = GGUFShape(n_layers=4, hidden=512, ffn=1024, n_heads=8, n_kv_heads=2, vocab=1000, context=4096, name="ref")
    fake_hub.add_gguf_repo("catupd2-org/Known-8B-GGUF", {"Known-8B-Q4_K_M.gguf": shape,
                                                         "Known-8B-Q5_K_M.gguf": dataclasses.replace(shape, quant="Q5_K_M"),
                                                         "Known-8B-Q8_0.gguf": dataclasses.replace(shape, quant="Q8_0")})
    known = CatalogEntry.from_dict(llama8b(id="acme/Known-8B", gguf=[{"repo": "catupd2-org/Known-8B-GGUF"}]))
    assert known.gguf_quants() == dict.fromkeys(("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"))  # assumed
    res = update_catalog(limit=0, refresh_gguf=5, catalog=Catalog([known]), out_dir=tmp_path / "cat")
    assert res.added == [] and len(res.updated) == 1
    (row,) = [json.loads(x) for x in (tmp_path / "cat" / "hub.jsonl").read_text().splitlines()]
    e = CatalogEntry.from_dict(row)
    files = fake_hub.repos["catupd2-org/Known-8B-GGUF"].files
    assert e.gguf_quants() == {"Q4_K_M": files["Known-8B-Q4_K_M.gguf"].size, "Q5_K_M": files["Known-8B-Q5_K_M.gguf"].size,
                               "Q8_0": files["Known-8B-Q8_0.gguf"].size}
    validate_entry(e)  # the refreshed entry is still a valid catalog entry


def test_hybrid_architectures_keep_a_plausible_declared_count_flagged():
    from llmfit_core.catalog.validate import HYBRID_DECLARED

    # 30% more than the attention-only formula (linear-attention layers not in the fields): kept, flagged
    e = CatalogEntry.from_dict(llama8b(id="acme/Hybrid-8B", arch="qwen3_next", params=int(8_030_261_248 * 1.3)))
    assert validate_entry(e) == ["unverified: parameter count of a hybrid architecture kept as declared"]
    assert e.params == int(8_030_261_248 * 1.3) and e.src["params"] == HYBRID_DECLARED
    # a packed MLX re-upload of a hybrid model: its count cannot be repaired by the formula -> dropped
    with pytest.raises(CatalogError, match="hybrid architecture not modelled"):
        validate_entry(CatalogEntry.from_dict(llama8b(id="mlx-community/Hybrid-8B-4bit", arch="qwen3_next",
                                                      params=1_300_000_000)))
    # counted from the weights on the Hub: trusted even far from the formula
    t = CatalogEntry.from_dict(llama8b(id="acme/Hybrid-X", arch="nemotron_h", params=20_000_000_000,
                                       src={"params": "hub safetensors metadata"}))
    validate_entry(t)
    assert t.src["params"] == "hub safetensors metadata"
    # the spec of a hybrid entry is scaled to its declared size
    spec = e.to_spec("Q8_0")
    assert spec.params == e.params and any("scaled" in n for n in spec.notes)
    assert 1.2 < spec.weight_bytes / CatalogEntry.from_dict(llama8b()).to_spec("Q8_0").weight_bytes < 1.4


@pytest.mark.parametrize("repo,quant,bpw,assumed", [
    ("mlx-community/Llama-3-8B-Instruct-bf16", "MLX-16bit", 16.0, False),   # the name says bf16: unquantized
    ("mlx-community/Llama-3-8B-Instruct-fp16", "MLX-16bit", 16.0, False),
    ("mlx-community/Llama-3-8B-Instruct", "MLX-4bit", 4.5, True),           # silent: mlx_lm.convert's default
    ("someone/bf16ish-8B-mlx", "MLX-4bit", 4.5, True),                     # "bf16" only as a whole token
])
def test_mlx_entry_with_a_bare_label_sizes_from_its_name(repo, quant, bpw, assumed):
    """242 MLX catalog entries carry the bare label "MLX"; they used to be sized as a Q4_K_M GGUF (a bf16 repo at
    about a third of its size)."""
    from llmfit_core.catalog.sizes import spec_for_entry

    e = CatalogEntry.from_dict(llama8b(id=repo, format="mlx", quant="MLX"))
    spec = spec_for_entry(e)
    assert spec.quant == quant
    assert spec.weight_bytes == pytest.approx(e.params * bpw / 8, rel=0.06)
    assert any("does not state its MLX quantization" in n for n in spec.notes) == assumed


# ---------------------------------------------------------------------------------------------
# fact checks (issue 14)


def test_declared_count_off_by_more_than_3_percent_is_replaced_and_flagged():
    e = CatalogEntry.from_dict(llama8b(params=12_000_000_000))  # "acme/Llama-8B": the name sides with the fields
    repairs = validate_entry(e)
    assert abs(e.params / 8_030_261_248 - 1) < 0.001 and "declared 12,000,000,000 disagreed" in e.src["params"]
    assert any("more than 3%" in r for r in repairs)
    e = CatalogEntry.from_dict(llama8b(params=int(8_030_261_248 * 1.04)))  # 4% off: replaced too (was kept at 5%)
    validate_entry(e)
    assert abs(e.params / 8_030_261_248 - 1) < 0.001


def test_context_beyond_the_documented_limit_is_cut_with_its_evidence():
    e = CatalogEntry.from_dict(llama8b(id="meta-llama/Llama-3.1-8B-Instruct", max_context=1_048_576))
    repairs = validate_entry(e)
    assert e.max_context == 131072
    assert any("max_context 1,048,576 -> 131,072" in r and "Llama-3.1-8B-Instruct/blob/main/config.json" in r
               for r in repairs)
    # a fine-tune of the same size is capped too, unless its name states the longer context it was trained for
    ft = CatalogEntry.from_dict(llama8b(id="someone/Hermes-Llama-3.1-8B-Tune", max_context=1_048_576))
    validate_entry(ft)
    assert ft.max_context == 131072
    long = CatalogEntry.from_dict(llama8b(id="someone/Llama-3.1-8B-UltraLong-1M-Instruct", max_context=1_048_576))
    validate_entry(long)
    assert long.max_context == 1_048_576


def test_qwen35_and_gemma4_rows_check_context_vocab_and_layers():
    """Qwen 3.5 / Gemma 4 rows (facts as the llmfit 1.1.17 list records the first-party configs): a community upload
    claiming more context is cut to the documented limit, a first-party entry's wrong vocabulary is replaced, a
    drafter with another layer count is not taken for the model; the rows never stand in for a config (hybrids)."""
    from llmfit_core.catalog.facts import DOCUMENTED, documented_for

    q9 = {"id": "someone/Qwen3.5-9B-Uncensored", "family": "qwen-3.5", "arch": "qwen3_5", "params": 9_653_104_368,
          "active_params": 0, "n_layers": 32,
          "hidden_size": 4096, "n_heads": 16, "n_kv_heads": 4, "head_dim": 256, "vocab_size": 248320,
          "max_context": 1_048_576, "ffn_size": 12288}
    e = CatalogEntry.from_dict(q9)
    assert any("max_context 1,048,576 -> 262,144" in r and "Qwen3.5-9B" in r for r in validate_entry(e))
    assert e.max_context == 262144
    g = CatalogEntry.from_dict({"id": "google/gemma-4-E4B-it", "family": "gemma-4", "arch": "gemma4",
                                "params": 7_996_156_490, "active_params": 0, "n_layers": 42,
                                "hidden_size": 2560, "n_heads": 8, "n_kv_heads": 2, "head_dim": 256, "vocab_size": 256000,
                                "max_context": 131072, "ffn_size": 10240})
    assert any("vocab_size 256,000 -> 262,144" in r for r in validate_entry(g)) and g.vocab_size == 262144
    drafter = CatalogEntry.from_dict({**q9, "id": "google/gemma-4-31B-it-assistant", "n_layers": 4, "hidden_size": 1024})
    assert documented_for(drafter) is None  # the 4-layer speculative drafter is another shape: not gemma-4-31B's row
    assert documented_for(CatalogEntry.from_dict({**q9, "id": "google/gemma-4-31B-it", "n_layers": 60,
                                                  "hidden_size": 5376})).name == "gemma-4-31B"
    rows = [d for d in DOCUMENTED if d.name.startswith(("Qwen3.5", "gemma-4"))]
    assert len(rows) == 13 and not any(d.full for d in rows)


@pytest.mark.parametrize("model_id,context", [
    ("meta-llama/Llama-3.1-8B-Instruct", 131072), ("meta-llama/Llama-3.1-70B-Instruct", 131072),
    ("meta-llama/Llama-3.2-1B-Instruct", 131072), ("meta-llama/Llama-3.2-3B-Instruct", 131072),
    ("google/gemma-3-12b-it", 131072), ("google/gemma-3-27b-it", 131072),
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", 131072),
])
def test_shipped_contexts_are_the_documented_ones(model_id, context):
    e = load_catalog().get(model_id)
    assert e.max_context == context, (model_id, e.max_context)
    assert "documented limit" in e.source_of("max_context")


def test_shipped_parameter_counts_of_the_issue_models():
    cat = load_catalog()
    nano = cat.find("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-FP8")  # the FP8 upload (declared 101.56 B) is a mirror
    assert nano.id == "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16" and abs(nano.params / 31.58e9 - 1) < 0.01
    mxfp4 = cat.get("mlx-community/NVIDIA-Nemotron-3-Nano-30B-A3B-MLX-MXFP4")  # declared 101.56 B: recomputed
    assert abs(mxfp4.params / 31.58e9 - 1) < 0.03 and "recomputed" in mxfp4.source_of("params")
    # no Nemotron-3-Super copy keeps its 1,492.6 B (its hybrid layout is not modelled: dropped, not guessed)
    assert not [e.id for e in cat if "Nemotron-3-Super" in e.id and e.params > 200e9]
    scout = cat.get("meta-llama/Llama-4-Scout-17B-16E-Instruct")
    assert abs(scout.params / 109e9 - 1) < 0.02 and abs(scout.active_params / 17e9 - 1) < 0.05
    assert cat.find("RedHatAI/Llama-4-Maverick-17B-128E-Instruct-quantized.w4a16").params < 410e9  # was 777 B
    assert abs(cat.find("RedHatAI/Llama-4-Scout-17B-16E-Instruct-NVFP4").active_params / 17e9 - 1) < 0.05  # was 10.1 B
    maverick = cat.get("meta-llama/Llama-4-Maverick-17B-128E-Instruct")
    assert abs(maverick.params / 400e9 - 1) < 0.02 and abs(maverick.active_params / 17e9 - 1) < 0.05
    assert maverick.n_experts == 128 and maverick.dense_layers == 24 and maverick.max_context == 1048576
    big = cat.get("meta-llama/Llama-3.1-405B-Instruct")
    assert big is not None and big.n_layers == 126 and big.max_context == 131072 and abs(big.params / 405.9e9 - 1) < 0.01


def test_recompute_models_llama4_interleaving_and_the_nemotron_h_hybrid():
    maverick = CatalogEntry.from_dict(llama8b(
        id="x/m", arch="llama4", params=401_583_781_376, n_layers=48, hidden_size=5120, n_heads=40, n_kv_heads=8,
        vocab_size=202048, ffn_size=16384, n_experts=128, n_experts_used=1, expert_ffn_size=8192, shared_ffn_size=8192,
        dense_layers=24))
    rc = recompute_params(maverick)
    assert abs(rc.total / 400.9e9 - 1) < 0.01 and abs(rc.active / 17.2e9 - 1) < 0.02  # text weights (vision 0.7 B apart)
    nano = CatalogEntry.from_dict(llama8b(
        id="x/Nemotron-3-Nano-30B-A3B-FP8", arch="nemotron_h", params=101_558_059_008, n_layers=52, hidden_size=2688, n_heads=32, n_kv_heads=2,
        vocab_size=131072, ffn_size=0, n_experts=128, n_experts_used=6, expert_ffn_size=1856, shared_ffn_size=3712,
        max_context=262144))
    rc = recompute_params(nano)
    assert abs(rc.total / 31_577_937_344 - 1) < 0.001 and rc.layout_modelled  # the BF16 repo's safetensors count
    validate_entry(nano)
    assert abs(nano.params / 31.58e9 - 1) < 0.001


def test_facts_come_only_from_the_publisher_never_a_community_twin():
    cat = load_catalog()
    for e in cat:
        for src in e.src.values():
            if src.startswith("filled from"):
                twin = src.split("model ", 1)[1].split(" ", 1)[0]
                assert cat.get(twin) is None or cat.get(twin).publisher == "first-party", (e.id, src)
    e = cat.get("meta-llama/Llama-3.1-8B-Instruct")
    assert "Buzzy" not in json.dumps(e.src) and "documented" in e.source_of("hidden_size")


def test_uses_and_release_dates_of_official_models():
    cat = load_catalog()
    for mid in ("Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B"):
        assert {"chat", "coding", "tool-use"} <= set(cat.get(mid).uses), mid
    for mid in ("openai/gpt-oss-20b", "openai/gpt-oss-120b"):
        assert {"chat", "reasoning", "coding", "tool-use"} <= set(cat.get(mid).uses), mid
    assert cat.get("openai/gpt-oss-20b").released == "2025-08-05"
    assert cat.get("meta-llama/Llama-3.1-8B-Instruct").released == "2024-07-23"
    assert cat.get("Qwen/Qwen3-32B").released == "2025-04-29"
    assert "chat" not in cat.get("meta-llama/Llama-3.1-8B").uses  # a base model


def test_uses_never_come_from_the_uploader_name():
    cat = load_catalog()
    e = cat.get("coder3101/Qwen3-VL-32B-Instruct-heretic-v2")
    assert e is not None and "coding" not in e.uses
    from llmfit_core.catalog.entry import uses_from_name

    assert "coding" not in uses_from_name("coder3101/Qwen3.5-27B-heretic")
    assert "coding" in uses_from_name("someone/Qwen2.5-Coder-7B-Instruct")


def test_publishers_are_classified():
    cat = load_catalog()
    assert cat.get("meta-llama/Llama-3.1-8B-Instruct").publisher == "first-party"
    assert cat.get("coder3101/Qwen3-VL-32B-Instruct-heretic-v2").publisher == "community"
    assert cat.get("coder3101/Qwen3-VL-32B-Instruct-heretic-v2").modified == "heretic"
    mlx = cat.get("mlx-community/Llama-3.1-8B-Instruct-4bit")
    assert mlx.publisher == "repackage" and mlx.variant_of == "meta-llama/Llama-3.1-8B-Instruct"
    assert cat.get("NousResearch/Hermes-3-Llama-3.1-8B").well_known
    reap = [e for e in cat if "REAP" in e.id and not e.variant_of]
    assert reap and all(e.modified for e in reap)  # pruned (or abliterated / heretic first)


def test_cli_catalog_validate_reports_a_wrong_fact_with_its_evidence(tmp_path):
    from llmfit_core.cli.main import cli

    f = tmp_path / "mine.json"
    f.write_text(json.dumps([llama8b(id="meta-llama/Llama-3.1-8B-Instruct", max_context=1_048_576)]))
    res = CliRunner().invoke(cli, ["catalog", "validate", str(f)])
    assert res.exit_code == 1
    assert "max_context 1,048,576 -> 131,072" in res.output and "config.json" in res.output


def test_private_models_are_recommended_by_default_hub_updates_by_publisher(tmp_path, monkeypatch):
    from llmfit_core.catalog.publishers import shown_by_default

    f = tmp_path / "ours.jsonl"
    f.write_text(json.dumps(llama8b(id="acme/Our-Llama-8B")) + "\n")
    monkeypatch.setenv("LLMFIT_CATALOG_PATH", str(f))
    hub = tmp_path / "home" / "catalog" / "hub.jsonl"  # what `catalog update` fetched
    hub.parent.mkdir(parents=True)
    hub.write_text(json.dumps(llama8b(id="someone/Llama-8B-Tune")) + "\n")
    cat = load_catalog()
    ours, theirs = cat.get("acme/Our-Llama-8B"), cat.get("someone/Llama-8B-Tune")
    assert ours.publisher == "community" and shown_by_default(ours)  # the user's own registry
    assert theirs.publisher == "community" and not shown_by_default(theirs)


GPU24_CATALOG = "workstation-4090"


def test_gemma4_from_the_catalog_keeps_its_sliding_window():
    """The catalog keeps no window for Gemma 4: priced with a full KV cache on all 60 layers, the 31B needed 30 GiB
    of KV at 32k tokens. Its published config: 1024-token window on 5 of 6 layers."""
    from llmfit_core.api import fit_spec

    e = load_catalog().get("google/gemma-4-31B-it")
    spec = e.to_spec("Q4_K_M")
    assert spec.sliding_window == 1024 and sum(spec.swa_layers) == 50
    ctx = 32768
    kv = fit_spec(spec, hardware=GPU24_CATALOG, context=ctx).memory.kv_cache_bytes
    per_layer_token = 2 * spec.n_kv_heads * spec.head_dim * 2  # K+V, f16
    assert 10 * ctx * per_layer_token <= kv < (10 * ctx + 50 * 2048) * per_layer_token * 1.01
    assert any("gemma-4-31B-it/config.json" in n for n in spec.notes)


@pytest.mark.parametrize("model_id, own_size", [("Qwen/Qwen3.5-35B-A3B", True), ("Qwen/Qwen3.5-9B", False)])
def test_qwen35_from_the_catalog_is_priced_as_a_hybrid_not_a_llama(model_id, own_size):
    """Qwen 3.5 catalog entries get the gated delta-net state of the published config of their size (or of the
    family's reference size, said as assumed): no 'not modelled exactly' reason, a recurrent state, a scan cost."""
    from llmfit_core.api import fit_spec

    spec = load_catalog().get(model_id).to_spec("Q4_K_M")
    assert spec.recurrent_r > 0 and spec.recurrent_s > 0 and spec.n_recurrent_layers == 3 * spec.n_layers // 4
    assert not any("not modelled exactly" in n for n in spec.notes)
    note = next(n for n in spec.notes if "gated delta-net" in n)
    assert ("assumed as in" in note) == (not own_size)
    report = fit_spec(spec, hardware=GPU24_CATALOG, context=8192)
    assert not any("llama-like decoder" in r for r in report.reasons)


def test_reference_configs_leave_other_families_alone():
    from llmfit_core.catalog.reference_configs import reference_keys

    assert reference_keys("llama", 4096, 32) == ({}, "")
    assert reference_keys("nemotron_h", 4480, 56) == ({}, "")  # the published pattern is for 52 layers only
