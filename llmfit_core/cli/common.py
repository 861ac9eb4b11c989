"""Shared CLI pieces: error handling (one line on stderr, never a traceback), the options several commands take,
and the table layouts.

Command style (every built-in command and the adapters' commands, tests/test_cli_style.py checks it): a command is
a module-level click command or group (`@click.command("name")`, `@click.group("name")`, subcommands
`@name_group.command(...)`), never declared inside a function; `cli/main.py`'s COMMANDS table names it
"module:attribute", as a plugin's `llmfit_register_commands` does with `cli.add_lazy_command`; each command's callback is wrapped in `friendly_errors` (innermost decorator) and reports bad input by raising a
named LlmfitError from errors.py, never by printing and exiting itself; an option several commands share is
declared once here (`--json`, `--csv`, `--hardware`, `--backend`, `--context`, `--offline`, `--limit`) and used as a
decorator, so its name, parameter and help read the same everywhere.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import sys
from dataclasses import dataclass

import click

from llmfit_core.errors import LlmfitError
from llmfit_core.verdict import Verdict


def fail(message: str, code: int = 1) -> "NoReturn":  # noqa: F821
    """Print one line on stderr and exit."""
    click.echo(f"llmfit: error: {message}", err=True)
    sys.exit(code)


def friendly_errors(fn):
    """Turn any failure into one clear stderr line and a non-zero exit code.

    Set LLMFIT_DEBUG=1 to see the traceback of unexpected errors.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # (wrapper.friendly_errors marks a wrapped command: tests/test_cli_style.py)
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

    wrapper.friendly_errors = True
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


def backend_option(fn):
    """`--backend NAME` (parameter `backend`): a built-in backend or one a runner adapter declares."""
    return click.option("--backend", "backend", default=None,
                        help="llama.cpp-cuda|-metal|-vulkan|-rocm|-sycl|-cpu, mlx or a plugin's backend (default: from "
                             "the hardware; one the hardware cannot run is an error).")(fn)


def json_option(fn):
    """`--json` (parameter `as_json`)."""
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(fn)


def csv_option(fn):
    """`--csv` (parameter `as_csv`)."""
    return click.option("--csv", "as_csv", is_flag=True, help="CSV output (header + one line per row).")(fn)


def context_option(default_text: str = "min(model max, 4096)"):
    """`--context` / `-c TOKENS` (parameter `context`, a string: "16k" ok), the context to reserve;
    `default_text` says what an unset one means for this command."""
    return click.option("--context", "-c", "context", default=None, metavar="TOKENS",
                        help=f"Context to reserve (tokens; 16k ok). Default {default_text}.")


def offline_option(help_text: str = "No network: local files and the catalog only."):
    """`--offline` (parameter `offline`: True, or None when not given so the library's own default holds)."""
    return click.option("--offline", "offline", is_flag=True, default=None, help=help_text)


def limit_option(default: int, what: str = "rows", minimum: int = 0, maximum: int | None = None):
    """`--limit N` (parameter `limit`): at most N `what`, N in [minimum, maximum]."""
    return click.option("--limit", "limit", default=default, show_default=True,
                        type=click.IntRange(min=minimum, max=maximum), help=f"At most this many {what}.")


# -- tables that read well at any width and pipe cleanly -----------------------------------------------------------
#
# Three layouts, chosen by where stdout goes (never by dropping or cutting a column):
# - a terminal wide enough for the whole table: a rich table; no column is cut, long prose columns wrap at spaces;
# - a narrower terminal (e.g. 80 columns): each row's name on its own line, the other cells aligned under it;
# - not a terminal (a pipe, a file): a plain fixed-width layout, one line per row, every column whole.
# `--csv` / `--json` are for scripts.


@dataclass
class Col:
    """A table column. `key`: the row's name (never cut; its own line in the narrow layout). `wrap`: prose that
    may wrap at spaces (e.g. a note). `right`: right-justified (numbers)."""

    header: str
    right: bool = False
    key: bool = False
    wrap: bool = False


def cell_text(value) -> "Text":  # noqa: F821
    """A cell as rich Text: Text as is, None as "-", anything else as plain text (no markup)."""
    from rich.text import Text  # lazy: start-up: rich, only when printing tables (check prints none)

    if isinstance(value, Text):
        return value
    return Text("-" if value is None else " ".join(str(value).split()))


# how a verdict is shown in every table and report (rich styles)
VERDICT_STYLE = {Verdict.RUNS: "bold green", Verdict.OFFLOAD: "bold yellow", Verdict.TIGHT: "bold yellow",
                 Verdict.NO_FIT: "bold red"}


def styled(value, style: str | None) -> "Text":  # noqa: F821
    """A plain value with a rich style (e.g. a verdict colour); the style is dropped in plain output."""
    from rich.text import Text  # lazy: start-up: rich, only when printing tables (check prints none)

    return Text("-" if value is None else str(value), style=style or "")


def make_console():
    """A rich Console on stdout that does not wrap lines when it is not a terminal (pipes keep whole lines)."""
    from rich.console import Console  # lazy: start-up: rich, only when printing tables (check prints none)

    console = Console(highlight=False)
    if not console.is_terminal:
        console.soft_wrap = True
    return console


def cell_len(text: str) -> int:
    """Terminal cells of `text` (wide characters count 2)."""
    from rich.cells import cell_len as _cell_len  # lazy: start-up: rich, only when printing tables (check prints none)

    return _cell_len(text)


def _min_table_width(columns: list[Col], rows: list[list]) -> int:
    """The narrowest rich table (box borders, one space of padding) with no cell cut and no word broken."""
    total = 1
    for i, c in enumerate(columns):
        cells = [c.header] + [cell_text(r[i]).plain for r in rows]
        if c.wrap or c.key:
            w = max(cell_len(word) for cell in cells for word in (cell.split() or [""]))
        else:
            w = max(cell_len(cell) for cell in cells)
        total += w + 3
    return total


def print_table(columns: list[Col], rows: list[list], title: str | None = None, as_csv: bool = False,
                console=None) -> None:
    """Print rows (lists of str | rich Text | None, one per column) in the layout that fits (see above)."""
    if as_csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([c.header for c in columns])
        for r in rows:
            w.writerow([cell_text(v).plain for v in r])
        click.echo(buf.getvalue(), nl=False)
        return
    console = console or make_console()
    if not console.is_terminal:
        _print_plain(columns, rows, title)
    elif _min_table_width(columns, rows) <= console.width:
        _print_rich(columns, rows, title, console)
    else:
        _print_narrow(columns, rows, title, console)


def _print_plain(columns: list[Col], rows: list[list], title: str | None) -> None:
    cells = [[c.header for c in columns]] + [[cell_text(v).plain for v in r] for r in rows]
    widths = [max(cell_len(row[i]) for row in cells) for i in range(len(columns))]
    if title:
        click.echo(title)
    for row in cells:
        parts = [" " * (w - cell_len(v)) + v if c.right else v + " " * (w - cell_len(v))
                 for v, w, c in zip(row, widths, columns)]
        click.echo("  ".join(parts).rstrip())


def _print_rich(columns: list[Col], rows: list[list], title: str | None, console) -> None:
    from rich.table import Table  # lazy: start-up: rich, only when printing tables (check prints none)
    from rich.text import Text  # lazy: start-up: rich, only when printing tables (check prints none)

    if title:  # above the table, so it wraps at the terminal's width, not the table's
        console.print(Text(title, style="bold"))
    t = Table()
    for i, c in enumerate(columns):
        wrap = c.wrap or c.key  # names may wrap at spaces ("Apple M2 Max / (30-core GPU)"), never inside a word
        words = c.header.split() + [w for r in rows for w in cell_text(r[i]).plain.split()]
        longest = max((cell_len(w) for w in words), default=1)
        t.add_column(c.header, justify="right" if c.right else "left", no_wrap=not wrap,
                     min_width=longest if wrap else None)
    for r in rows:
        t.add_row(*[cell_text(v) for v in r])
    console.print(t)


def _print_narrow(columns: list[Col], rows: list[list], title: str | None, console) -> None:
    """Row name on its own line; the other cells aligned under it, split over more lines when one is too wide."""
    from rich.text import Text  # lazy: start-up: rich, only when printing tables (check prints none)

    indent = "  "
    key = next((i for i, c in enumerate(columns) if c.key), 0)
    cols = [i for i, c in enumerate(columns) if i != key and not c.wrap]
    prose = [i for i, c in enumerate(columns) if i != key and c.wrap]
    widths = {i: max([cell_len(columns[i].header)] + [cell_text(r[i]).cell_len for r in rows]) for i in cols}
    groups: list[list[int]] = [[]]
    used = len(indent)
    for i in cols:  # columns per line: as many as fit the width
        if groups[-1] and used + widths[i] > console.width:
            groups.append([])
            used = len(indent)
        groups[-1].append(i)
        used += widths[i] + 2

    def line(cells: list[tuple[int, Text]]) -> Text:
        out = Text(indent)
        for n, (i, v) in enumerate(cells):
            pad = " " * (widths[i] - v.cell_len)
            out.append_text(Text(pad) + v if columns[i].right else v + Text(pad))
            if n < len(cells) - 1:
                out.append("  ")
        out.rstrip()
        return out

    if title:
        console.print(Text(title, style="bold"))
    console.print(Text(columns[key].header, style="bold"), soft_wrap=True)
    for g in groups:
        console.print(line([(i, Text(columns[i].header, style="bold")) for i in g]), soft_wrap=True)
    console.print(Text("─" * min(console.width, 40), style="dim"))
    for r in rows:
        console.print(Text(cell_text(r[key]).plain, style="bold"), soft_wrap=True)
        for g in groups:
            console.print(line([(i, cell_text(r[i])) for i in g]), soft_wrap=True)
        for i in prose:
            v = cell_text(r[i])
            if v.plain and v.plain != "-":
                console.print(Text(indent) + Text(f"{columns[i].header}: ", style="dim") + v)


class PairTable:
    """A two-column "what / value" table (fit report, hardware profile): `add_row(what, value_markup)`, then
    `print_pairs(table, console)`. A rich table on a terminal (values wrap at spaces), plain aligned lines when piped."""

    def __init__(self, title: str | None = None):
        self.title = title
        self.rows: list[tuple[str, str]] = []

    def add_row(self, what: str, value: str) -> None:
        self.rows.append((what, value))


def print_pairs(table: PairTable, console=None) -> None:
    """Print a PairTable: bordered on a terminal, `what  value` lines (markup stripped) when piped."""
    from rich.table import Table  # lazy: start-up: rich, only when printing tables (check prints none)
    from rich.text import Text  # lazy: start-up: rich, only when printing tables (check prints none)

    console = console or make_console()
    if not console.is_terminal:
        width = max((len(k) for k, _ in table.rows), default=0)
        if table.title:
            click.echo(table.title)
        for k, v in table.rows:
            click.echo(f"{k.ljust(width)}  {Text.from_markup(v).plain.replace(chr(10), ' ')}".rstrip())
        return
    if table.title:  # above the table, so it wraps at the terminal's width, not the table's
        console.print(Text(table.title, style="bold"))
    t = Table(show_header=False)
    t.add_column("what", style="bold", no_wrap=True)
    t.add_column("value")
    for k, v in table.rows:
        t.add_row(k, v)
    console.print(t)


def print_bullet(text: str, console=None, bullet: str = "•") -> None:
    """`  • text` (plain text, no markup); on a terminal continuation lines are indented under the text."""
    from rich.table import Table  # lazy: start-up: rich, only when printing tables (check prints none)
    from rich.text import Text  # lazy: start-up: rich, only when printing tables (check prints none)

    console = console or make_console()
    if not console.is_terminal:
        click.echo(f"  {bullet} {text}")
        return
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(f"  {bullet}", Text(text))
    console.print(grid)
