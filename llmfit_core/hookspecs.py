"""Hook specifications for llmfit plugins (pluggy project name `llmfit`).

Built-in adapters (Hugging Face Hub, llama.cpp, MLX, Ollama) implement these through the same
`llmfit` entry-point group as third-party plugins::

    # pyproject.toml of a plugin
    [project.entry-points.llmfit]
    myplugin = "my_package.llmfit_plugin"   # a module with @hookimpl functions

Implementations may accept any subset of a hook's arguments (pluggy). Raise an `llmfit_core.errors`
exception for an explained failure (it reaches the user as one line); any other exception disables the
plugin for the run with one warning. A plugin module may also define `runner_status() -> (bool, str)`
(see `llmfit_core.plugins`). See `examples/third_party_plugin/` for a complete plugin.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("llmfit")
hookimpl = pluggy.HookimplMarker("llmfit")


@hookspec(firstresult=True)
def llmfit_resolve_model(ref: str, options: dict):
    """Turn a model reference into a ModelSpec.

    :param ref: what the user typed (`org/name`, `org/name:Q4_K_M`, `ollama:llama3`, a path, ...).
    :param options: resolver options: `quant`, `file`, `revision`, `exact` (read headers), `offline`
        (no network: use caches only). Unknown keys must be ignored.
    :return: a ModelSpec, or None when this plugin does not handle `ref`.
        firstresult: the first plugin that returns a ModelSpec wins.
    """


@hookspec
def llmfit_list_models(query: str, options: dict):
    """Models a source can offer for `query` (Hub search, Ollama library, local caches).

    :param options: `limit`, `source` (only answer when it names you or is None), `offline`.
    :return: a list of ModelRef, or None. Results of all plugins are concatenated.
    """


@hookspec
def llmfit_detect_hardware(profile):
    """Add or refine accelerators and bandwidth figures on a detected HardwareProfile, in place.

    :param profile: the HardwareProfile detected so far. Return value is ignored.
    """


@hookspec
def llmfit_backends(hardware):
    """Runtimes available here and their characteristics.

    :return: a list of Backend (llmfit_core.backends), or None.
    """


@hookspec
def llmfit_before_download(ref: str, report, options: dict):
    """Veto or annotate a download before any weight byte moves.

    :param report: the FitReport for what would be downloaded.
    :return: a Decision (llmfit_core.plugin_types) or None. Any "block" decision stops the download
        unless the user forced it.
    """


@hookspec
def llmfit_register_commands(cli):
    """Add subcommands to the `llmfit` command.

    :param cli: the `llmfit` click group (`llmfit_core.cli.main.LazyGroup`). Prefer
        `cli.add_lazy_command(name, "package.module:attribute", short_help)`: `llmfit --help` lists the
        command from `short_help` and its module is imported only when it runs (start-up time), e.g.
        `cli.add_lazy_command("hf", "llmfit_hf.cli:hf_group", "Hugging Face Hub: ...")`. `cli.add_command(cmd)`
        works too. A name that is already a command is not replaced.
        Called only when `llmfit` lists its commands or is given a name that is not built in.
    :return: ignored.
    """


@hookspec
def llmfit_guard_loads(guard):
    """Route this runner's model load (e.g. `llama_cpp.Llama(...)`, `mlx_lm.load`) through `guard`.

    :param guard: a `llmfit_core.autopilot.LoadGuard` (mode auto|warn|block, hardware). Before the load,
        compute a `LoadDecision` and call `guard.settle(decision)`; in auto mode (`guard.chooses`) first pick
        the settings the caller left to the runner. Patch lazily: never import the runner just for this
        (`llmfit_core.autopilot.patch_on_import`).
    :return: a callable that undoes the patch, or None.
    """


@hookspec(firstresult=True)
def llmfit_mmproj_for(spec):
    """The vision projector `llama-server -hf` would load beside this model (`fit --mmproj auto`).

    :param spec: the ModelSpec of the model (a source plugin knows its repo from `spec.metadata`).
    :return: a `llmfit_core.companions.Companion` read from the projector's header, or None.
    """
