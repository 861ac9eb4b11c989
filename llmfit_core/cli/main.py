"""The `llmfit` command: a click group; each concern registers its own subcommands."""

from __future__ import annotations

import importlib
import sys

import click

from llmfit_core import __version__

# Built-in command modules, each with `register(cli)`.
COMMAND_MODULES = (
    "llmfit_core.cli.system_cmd",  # system, hardware list|show|validate
    "llmfit_core.cli.fit_cmd",  # fit, check
    "llmfit_core.cli.bench_cmd",  # bench, calibrate, data import
    "llmfit_core.cli.catalog_cmd",  # catalog ..., search, list, recommend, plan
    "llmfit_core.cli.models_cmd",  # models (every source plugin's listing, annotated)
    "llmfit_core.cli.plugins_cmd",  # plugins
    "llmfit_core.cli.hf_cmd",  # hf search|ls|download
    "llmfit_core.cli.ollama_cmd",  # ollama ls|pull
    "llmfit_core.cli.hooks_cmd",  # hooks install|uninstall
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llmfit")
def cli():
    """Will this LLM run on my machine, and how fast? Checked before you download."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(cli)
    try:
        from llmfit_core.plugins import call_hook

        call_hook("llmfit_register_commands", cli=cli)
    except Exception as exc:  # never let a plugin break the CLI
        click.echo(f"llmfit: warning: plugin commands unavailable ({exc})", err=True)


_register_all()


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
