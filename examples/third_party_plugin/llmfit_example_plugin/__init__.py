"""An example llmfit plugin: a model source answering `zoo:NAME` references from a small built-in zoo.

It implements two hooks (`llmfit_resolve_model`, `llmfit_list_models`) and the adapter convention
`runner_status()`. Install it (`pip install ./examples/third_party_plugin`) and try:

    llmfit plugins
    llmfit fit zoo:toy-1b
"""

from __future__ import annotations

from llmfit_core.hookspecs import hookimpl

# config.json-style shapes: what the plugin "knows" (a real plugin would query its own registry)
ZOO = {
    "toy-1b": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
        "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
        "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 8192,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    },
}


def runner_status() -> tuple[bool, str]:
    """This source needs no runner: always available."""
    return True, f"built-in zoo with {len(ZOO)} model(s)"


@hookimpl
def llmfit_resolve_model(ref: str, options: dict):
    """`zoo:NAME[:QUANT]` → ModelSpec (None for every other reference, so other sources get a turn)."""
    if not ref.startswith("zoo:"):
        return None
    name, _, quant = ref[len("zoo:"):].partition(":")
    if name not in ZOO:
        from llmfit_core.errors import NotFoundError

        raise NotFoundError(f"zoo has no model {name!r} (have: {', '.join(sorted(ZOO))})")
    from llmfit_core.readers.hf_config import spec_from_config

    spec = spec_from_config(ZOO[name], ref, quant=quant or (options or {}).get("quant") or "Q4_K_M")
    spec.notes.append("from the example zoo plugin")
    return spec


@hookimpl
def llmfit_list_models(query: str, options: dict):
    """Zoo models whose name contains `query`."""
    from llmfit_core.plugin_types import ModelRef

    return [ModelRef(ref=f"zoo:{n}", source="zoo", name=n) for n in ZOO if query.lower() in n]
