"""The `llmfit` command: a click group; each concern registers its own subcommands."""

from __future__ import annotations

import importlib
import sys

import click

from llmfit_core import __version__

# One command style (tests/test_cli_style.py): every command is a module-level click command or group, named here
# by "package.module:attribute", the same form a plugin gives `cli.add_lazy_command` in `llmfit_register_commands`.
# Built-in commands: name -> (target, its one-line help). `llmfit --help` lists them from this table and a
# command's module is imported only when that command runs or shows its help (start-up time, issue 15).
# tests/test_cold_start.py checks the table against the real commands.
COMMANDS: dict[str, tuple[str, str]] = {
    "system": ("llmfit_core.cli.system_cmd:system_command",
               "Show this machine's profile (CPU, ISA, RAM, bandwidth, GPUs) or a named/file profile."),
    "hardware": ("llmfit_core.cli.system_cmd:hardware_group",
                 "The built-in device table and hardware profiles."),
    "fit": ("llmfit_core.cli.fit_cmd:fit_command",
            "Will REF run here? Memory, placement, speed and verdict."),
    "check": ("llmfit_core.cli.fit_cmd:check_command",
              "Exit 0 if REF fits here, 3 if it does not, 1 on an error (for scripts)."),
    "bench": ("llmfit_core.cli.bench_cmd:bench_command",
              "Run a GGUF like llama-bench (pp/tg tok/s, peak memory) and record it; REF is a local GGUF path."),
    "calibrate": ("llmfit_core.cli.bench_cmd:calibrate_command",
                  "Fit this machine's correction (per backend, test and quant family) from the local bench records."),
    "data": ("llmfit_core.cli.bench_cmd:data_group",
             "Shared benchmark data: import exported bench files into the training rows."),
    "catalog": ("llmfit_core.cli.catalog_cmd:catalog_group",
                "The model catalog: shipped data, private registries (LLMFIT_CATALOG_PATH), Hub updates."),
    "search": ("llmfit_core.cli.catalog_cmd:search_command",
               "Find catalog models by name (all words must match)."),
    "list": ("llmfit_core.cli.catalog_cmd:list_command",
             "List catalog models, filtered."),
    "recommend": ("llmfit_core.cli.catalog_cmd:recommend_command",
                  "Best models for this machine (or --hardware), e.g."),
    "plan": ("llmfit_core.cli.catalog_cmd:plan_command",
             ("Several models on one machine, or (--target-tps) the smallest device for one model; with --cluster, one "
              "model across machines (engines ranked, memory per device, launch lines).")),
    "models": ("llmfit_core.cli.models_cmd:models_command",
               "Models the installed sources offer for QUERY (Hub search, installed Ollama models, plugins; offline the "
               "shipped catalog), with their fit."),
    "plugins": ("llmfit_core.cli.plugins_cmd:plugins_command",
                "List plugins (entry-point group `llmfit`): whether the adapter loaded, its hooks, and whether the runner it adapts (llama-cpp-python, Ollama, mlx, huggingface_hub) is installed."),
    "hooks": ("llmfit_core.cli.hooks_cmd:hooks_group",
              "Shims that check a model fits before `hf download`, `ollama pull`, `llama-cli -hf` download it."),
}


def load_target(target: str) -> click.Command:
    """The click command at `target` ("package.module:attribute"), its module imported now."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class LazyGroup(click.Group):
    """A click group that imports a command's module on first use. Built-in commands come from COMMANDS;
    plugins add theirs through the hook `llmfit_register_commands` (usually with `add_lazy_command`, the same
    "module:attribute" form as COMMANDS), asked (which loads the plugin entry points) only when listing every
    command or when a name is not built in."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, tuple[str, str]] = {}  # plugin command name -> ("module:attr", one-line help)
        self._plugins_asked = False

    def add_lazy_command(self, name: str, target: str, short_help: str) -> None:
        """Add the click command at `target` ("package.module:attribute") as `name`, imported only when it
        runs or shows its own help; `short_help` is its line in `llmfit --help`."""
        if name not in COMMANDS and name not in self.commands:  # a plugin never replaces a command
            self._lazy.setdefault(name, (target, short_help))

    def _import_builtin(self, name: str) -> None:
        if name not in self.commands:
            self.add_command(load_target(COMMANDS[name][0]), name)

    def _import_lazy(self, name: str) -> None:
        target = self._lazy.pop(name)[0]
        try:
            command = load_target(target)
        except Exception as exc:  # a broken plugin: its command is unknown, the others work
            click.echo(f"llmfit: warning: plugin command {name!r} ({target}) failed to load: "
                       f"{type(exc).__name__}: {exc}", err=True)
            return
        self.add_command(command, name)

    def _plugin_commands(self) -> None:
        if self._plugins_asked:
            return
        self._plugins_asked = True
        try:
            from llmfit_core.plugins import call_hook  # lazy: start-up: built-ins never load pluggy + adapters

            call_hook("llmfit_register_commands", cli=self)
        except Exception as exc:  # never let a plugin break the CLI
            click.echo(f"llmfit: warning: plugin commands unavailable ({exc})", err=True)

    def list_commands(self, ctx):
        self._plugin_commands()
        return sorted(set(COMMANDS) | set(self.commands) | set(self._lazy))

    def get_command(self, ctx, name):
        if name in COMMANDS:
            self._import_builtin(name)
        elif name not in self.commands:
            self._plugin_commands()
            if name in self._lazy:
                self._import_lazy(name)
        return self.commands.get(name)

    def resolve_command(self, ctx, args):
        """click's, with the typo matched against every command, not only the ones imported so far."""
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            raise click.exceptions.NoSuchCommand(exc.command_name, possibilities=self.list_commands(ctx),
                                                 ctx=ctx) from None

    def format_commands(self, ctx, formatter):
        """The command list of `llmfit --help`: built-ins' and lazy plugin commands' help from their tables,
        without importing them."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            cmd = self.commands.get(name)
            listed = COMMANDS.get(name) or self._lazy.get(name)
            if cmd is None and listed is not None:  # click's own shortening of the help text from the table
                cmd = click.Command(name, help=listed[1])
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llmfit")
def cli():
    """Will this LLM run on my machine, and how fast? Checked before you download."""


def load_all_commands() -> None:
    """Import every built-in command module and the plugins' commands (what `cli.commands` then holds)."""
    for name in COMMANDS:
        cli._import_builtin(name)
    cli._plugin_commands()
    for name in list(cli._lazy):
        cli._import_lazy(name)


def main(argv=None) -> None:
    """Run `llmfit`; a usage error (unknown command or option, bad option value) is one stderr line, exit 2."""
    try:
        rv = cli.main(args=argv, prog_name="llmfit", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # a bare group (`llmfit hardware`): its help, as before
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = " ".join(exc.format_message().split())[:500]
        if isinstance(exc, click.exceptions.NoSuchCommand) and not exc.possibilities and ctx is not None:
            message += f" Commands: {', '.join(ctx.command.list_commands(ctx))}."  # nothing close: name them all
        click.echo(f"llmfit: error: {message}{hint}", err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("llmfit: interrupted", err=True)
        sys.exit(130)
    # standalone_mode=False returns the exit code of click's own exits (--help, --version), else the
    # command's return value, which standalone mode ignores
    sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)


if __name__ == "__main__":
    main()
