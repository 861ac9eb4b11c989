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
    """The backends this adapter's runner provides on `hardware`, with their characteristics.

    `llmfit system` lists them as the runtimes here. A backend whose name is not built in
    (`llmfit_core.backends.BACKENDS`, never replaced) is accepted like a built-in one: `--backend NAME` on fit /
    check / --batch and `fit(..., backend=NAME)` resolve it, its errors name it among the valid and closest choices,
    and it is priced by its `device` (that device's roofline figures) with llama.cpp's memory model. Asked only when a
    backend name is not built in, or for an error line listing the valid ones.

    :param hardware: the HardwareProfile the backend is for (None when no profile is known yet).
    :return: a list of Backend (llmfit_core.backends), or None.
    """


@hookspec
def llmfit_shim_tools():
    """The programs of this runner whose downloads the shell shims check (`llmfit hooks install` writes one shim
    per program, placed before the real one on PATH).

    :return: a list of `llmfit_core.shims.ShimTool(name, commands=(), options=())`, or None. The shim runs llmfit's
        check (`python -m llmfit_core.shims check NAME -- ARGS`, which asks `llmfit_download_target`) when the first
        argument is one of `commands` (`hf download`) or any argument matches one of `options` (sh `case`
        patterns, e.g. `-hf`, `--hf-repo=*`); every other command line runs the real program without starting
        Python. Results of all plugins are collected; plugins naming the same program add to its triggers.
    """


@hookspec(firstresult=True)
def llmfit_download_target(tool: str, args: list):
    """What a runner's command line would download: the shims' check before `hf download`, `ollama pull`,
    `llama-server -hf ...` (`python -m llmfit_core.shims check TOOL -- ARGS`).

    :param tool: the program, as shimmed (`hf`, `huggingface-cli`, `ollama`, `llama-cli`, `llama-server`, or one
        a plugin adds).
    :param args: its arguments, without the program name.
    :return: a `llmfit_core.downloads.DownloadTarget` (subclass it to plan or describe the download your runner's
        way, or to add advice), or None when this plugin does not know `tool` or the command downloads nothing.
        firstresult: the first plugin that returns a target wins.
    """


@hookspec
def llmfit_before_download(ref: str, report, options: dict):
    """Veto or annotate a download before any weight byte moves (every download check asks: the shims, the
    Python guard, `llmfit hf download`, `llmfit ollama pull`, `hf fit download`).

    :param ref: what would be downloaded (a repo id, `ollama:NAME`, a plugin's reference).
    :param report: the FitReport of one model the download would fetch.
    :param options: the check's options (`force`, `strict`, `guard` mode, ...); unknown keys must be ignored.
    :return: a `llmfit_core.plugin_types.Decision` or None. Results of all plugins are collected; any "block"
        decision stops the download unless the user forced it (LLMFIT_FORCE=1, --force), and its message says why.
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
def llmfit_guard_downloads(guard):
    """The functions through which this runner's Python API downloads models, for the download guard
    (`llmfit_core.guard.install()`, `LLMFIT_GUARD=warn|block|auto`, `python -m llmfit_core.guard`).

    :param guard: the `llmfit_core.guard.DownloadGuard` being installed. A handler reads each call into what it
        would fetch (a `llmfit_core.downloads.DownloadTarget`) and asks the guard: `guard.bypassed(label)`,
        `guard.check(target, key)` (cached; fails open), `guard.enforce(result)` (warns, or raises
        DownloadBlockedError in block mode), `guard.fail_open(message)`; calls it makes itself go through
        `guard.run_inner(...)`, and `guard.busy()` says a call is the guard's own.
    :return: a list of `llmfit_core.guard.GuardedFunction(module, attr, handler)`, or None. The guard diverts
        each function object when `module` is imported (never importing it), so every name for it reaches
        `handler(original, args, kwargs)`, which must return `original(*args, **kwargs)`'s result unchanged.
        Results of all plugins are collected.
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
