"""Shared CLI pieces: error handling (one line on stderr, never a traceback) and common options."""

from __future__ import annotations

import functools
import os
import sys

import click

from llmfit_core.errors import LlmfitError


def fail(message: str, code: int = 1) -> "NoReturn":  # noqa: F821
    """Print one line on stderr and exit."""
    click.echo(f"llmfit: error: {message}", err=True)
    sys.exit(code)


def friendly_errors(fn):
    """Turn any failure into one clear stderr line and a non-zero exit code.

    Set LLMFIT_DEBUG=1 to see the traceback of unexpected errors.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LlmfitError as exc:
            fail(_one_line(str(exc)) or type(exc).__name__, getattr(exc, "exit_code", 1))
        except KeyboardInterrupt:
            click.echo("llmfit: interrupted", err=True)
            sys.exit(130)
        except MemoryError:
            fail("out of memory while reading input (is it a hostile or corrupt file?)")
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except BrokenPipeError:
            sys.exit(1)
        except Exception as exc:  # last resort: still one line
            if os.environ.get("LLMFIT_DEBUG"):
                raise
            fail(f"internal error: {type(exc).__name__}: {_one_line(str(exc))} (set LLMFIT_DEBUG=1 for details)")

    return wrapper


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def hardware_option(fn):
    """`--hardware NAME|PATH`: score against a named device/profile or a profile file."""
    return click.option(
        "--hardware",
        "hardware",
        default=None,
        metavar="NAME|PATH",
        help="A built-in device/profile name or a hardware-profile JSON file (default: this machine).",
    )(fn)


def json_option(fn):
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(fn)
