"""An example llmfit runner adapter for "zoo", a made-up runner whose models are `zoo:NAME[:QUANT]` and whose
command line downloads them with `zoo pull NAME[:QUANT]`.

It does what the built-in adapters (Hugging Face, llama.cpp, MLX, Ollama) do, through the same hooks:

- `llmfit_resolve_model` / `llmfit_list_models`: a model source (`llmfit fit zoo:toy-1b`, `llmfit models toy`);
- `llmfit_backends`: its runtime as a backend, `zoo` (on the CPU): `llmfit fit zoo:toy-1b --backend zoo` is accepted,
  named in the errors of a mistyped `--backend` and listed by `llmfit system`, like llama.cpp's and MLX's backends;
- `llmfit_register_commands`: its own command, `llmfit zoo ls` (llmfit_example_plugin.cli, imported only when it
  runs; `llmfit --help` lists it from the one-line help given here);
- `llmfit_shim_tools` + `llmfit_download_target`: `llmfit hooks install` writes a `zoo` shim that runs llmfit's
  check for `zoo pull ...` only, and what `zoo pull NAME` would download, so the check stops a model that does not
  fit;
- `llmfit_before_download`: a veto: with ZOO_MAX_DOWNLOAD_GB set, no download (from any runner) larger than that;
- the adapter convention `runner_status()` for `llmfit plugins`.

Install it (`pip install ./examples/third_party_plugin`) and try `llmfit plugins`, `llmfit fit zoo:toy-1b`,
`llmfit zoo ls`.
"""

from __future__ import annotations

import os

from llmfit_core.backends import Backend
from llmfit_core.downloads import DownloadTarget
from llmfit_core.errors import NotFoundError
from llmfit_core.hookspecs import hookimpl
from llmfit_core.plugin_types import Decision, ModelRef, ShimTool
from llmfit_core.readers.hf_config import spec_from_config

# config.json-style shapes: what the plugin "knows" (a real plugin would query its own registry)
ZOO = {
    "toy-1b": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
        "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
        "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 8192,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    },
}
MAX_DOWNLOAD_ENV = "ZOO_MAX_DOWNLOAD_GB"
# The zoo runtime as a backend: it runs on the CPU (no GPU vendors), so llmfit prices it with its CPU figures
BACKEND = Backend("zoo", runtime="zoo", device="cpu", gpu=False, requires="a CPU (the zoo runner)")


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
        raise NotFoundError(f"zoo has no model {name!r} (have: {', '.join(sorted(ZOO))})")
    spec = spec_from_config(ZOO[name], ref, quant=quant or (options or {}).get("quant") or "Q4_K_M")
    spec.notes.append("from the example zoo plugin")
    return spec


@hookimpl
def llmfit_list_models(query: str, options: dict):
    """Zoo models whose name contains `query`."""
    return [ModelRef(ref=f"zoo:{n}", source="zoo", name=n) for n in ZOO if query.lower() in n]


@hookimpl
def llmfit_backends(hardware):
    """The zoo backend: it runs wherever there is a CPU, so on every hardware profile."""
    return [BACKEND]


@hookimpl
def llmfit_register_commands(cli):
    """`llmfit zoo ...`: the module is imported only when the command runs."""
    cli.add_lazy_command("zoo", "llmfit_example_plugin.cli:zoo_group", "The example zoo runner: its models and their fit.")


@hookimpl
def llmfit_shim_tools():
    """A `zoo` shim: `zoo pull ...` is checked, every other zoo command runs without starting Python."""
    return [ShimTool("zoo", commands=("pull",))]


@hookimpl
def llmfit_download_target(tool: str, args: list):
    """`zoo pull NAME[:QUANT]` downloads `zoo:NAME[:QUANT]`; any other zoo command downloads nothing."""
    if tool != "zoo" or len(args) < 2 or args[0] != "pull" or args[1].startswith("-"):
        return None
    return DownloadTarget(f"zoo:{args[1]}", f"zoo pull {args[1]}")


@hookimpl
def llmfit_before_download(ref: str, report, options: dict):
    """A site policy: with ZOO_MAX_DOWNLOAD_GB set, block any download whose weights are larger."""
    raw = os.environ.get(MAX_DOWNLOAD_ENV)
    size = report.file_bytes or report.memory.weights_bytes
    if not raw or not size:
        return None
    limit = float(raw) * 1e9
    if size <= limit:
        return None
    return Decision("block", f"{ref} is {size / 1e9:.1f} GB, over {MAX_DOWNLOAD_ENV}={raw}", "zoo")
