"""What a download would fetch, and whether it may go ahead: the runner-independent half of every download check.

Runner adapters read their runner's command line (hook `llmfit_download_target`: `hf download ...`, `ollama pull
NAME`, `llama-server -hf REPO`) or Python call (hook `llmfit_guard_downloads`) into what it would download; the
shims (llmfit_core.shims), the Python guard (llmfit_core.guard) and the adapters' own commands check it here:

- `DownloadTarget`: one model reference a command would download. `check()` fits it (an adapter subclasses it
  when the runner plans its download differently, e.g. the Hub's dry run of several files) and returns a
  `CheckResult`; `notice()` is advice for a command that downloads nothing (`ollama run` of an installed model).
- `consult_plugins(result)`: every plugin's `llmfit_before_download` decision; one "block" vetoes the download.
- `summary(report)` one line per model, `describe(result)` the lines of a whole check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmfit_core.plugin_types import Decision
from llmfit_core.plugins import call_hook
from llmfit_core.units import fmt_bytes


@dataclass
class PlannedFile:
    """One file a download would fetch (`will_download` False: already cached)."""

    name: str
    size: int | None
    will_download: bool


@dataclass
class CheckedModel:
    """One model (a GGUF variant, a safetensors weight set, an Ollama model) a download would fetch, and its verdict."""

    label: str
    size: int | None
    report: object | None = None  # FitReport
    error: str | None = None
    hint: str = ""  # runner settings that make it fit (e.g. llama.cpp's -ngl / -c), said after the verdict
    notes: list[str] = field(default_factory=list)  # what else the verdict counts (e.g. a vision projector)

    @property
    def fits(self) -> bool | None:
        return None if self.report is None else bool(self.report.fits)


@dataclass
class CheckResult:
    """Outcome: fits | no-fit | nothing (no weights to fetch) | unchecked (weights of a format we cannot read)
    | error (predictor failed). A plugin's veto makes it no-fit, with the veto's message."""

    status: str
    repo_id: str
    models: list[CheckedModel] = field(default_factory=list)
    planned: list[PlannedFile] = field(default_factory=list)
    message: str = ""
    decisions: list[Decision] = field(default_factory=list)  # plugin Decisions from llmfit_before_download

    @property
    def download_bytes(self) -> int:
        return sum(p.size or 0 for p in self.planned if p.will_download)

    @property
    def vetoed(self) -> bool:
        """A plugin said "block" (the models may fit)."""
        return any(d.action == "block" for d in self.decisions)


@dataclass
class DownloadTarget:
    """What a runner's command would download, as an `llmfit fit` reference, and how to check it.

    `label` names the command in messages (`ollama pull llama3`); `downloads` False: the command fetches nothing
    (only `notice()` is said); `dry_run`: the runner only lists what it would fetch (the verdict is said, never a stop).
    """

    ref: str
    label: str
    file: str | None = None
    quant: str | None = None
    context: int | None = None
    dry_run: bool = False
    downloads: bool = True

    def check(self, hardware=None, context=None, options: dict | None = None) -> CheckResult:
        """Fit the reference (headers only, nothing downloaded) and ask the plugins (`llmfit_before_download`).

        `context`: what to reserve when the command line does not say. An `LlmfitError` (unknown model, offline)
        propagates: the caller fails open or stops by its own policy.
        """
        from llmfit_core.api import fit  # lazy: start-up: the predictor (numpy, readers) stays off the guard's path

        context = self.context or context
        report = fit(self.ref, hardware=hardware, quant=self.quant, context=context, file=self.file, stored=True)
        model = CheckedModel(self.label, report.file_bytes, report, hint=self.hint(report, hardware, context))
        result = CheckResult("fits" if report.fits else "no-fit", self.ref, [model])
        return consult_plugins(result, options)

    def hint(self, report, hardware=None, context=None) -> str:
        """Runner settings that make the model fit, said after the verdict ("": none). Adapters override it."""
        return ""

    def line(self, model: CheckedModel) -> str:
        """One model's verdict line in the shims' messages."""
        return summary(model.report, model.hint)

    def notice(self, hardware=None) -> tuple[str, bool] | None:
        """Advice to say (line, is_warning) when the command downloads nothing or after a check that fits."""
        return None


def consult_plugins(result: CheckResult, options: dict | None = None) -> CheckResult:
    """Every plugin's `llmfit_before_download` on each checked model; a "block" makes the result no-fit with the
    veto's message. A plugin that raises is reported once and skipped (llmfit_core.plugins)."""
    for model in result.models:
        if model.report is None:
            continue
        decisions = call_hook("llmfit_before_download", ref=result.repo_id, report=model.report,
                              options=dict(options or {}))
        result.decisions.extend(d for d in decisions or [] if isinstance(d, Decision))
    if result.vetoed and result.status != "no-fit":
        result.status = "no-fit"
        result.message = "; ".join(d.message for d in result.decisions if d.action == "block")
    return result


def summary(report, hint: str = "") -> str:
    """One line: what, verdict, memory needed vs. available, expected speed (and `hint`, when given)."""
    hw = report.hardware
    avail = None
    if hw is not None:
        avail = hw.memory.available_bytes + sum(g.vram_bytes for g in hw.gpus)
    quant = f" {report.quant}" if report.quant else ""
    size = f", {fmt_bytes(report.file_bytes)} download" if report.file_bytes else ""
    line = (f"{report.model_ref}{quant}{size}: {report.verdict} on {report.hardware_name} "
            f"(needs {fmt_bytes(report.memory.total_bytes)} at context {report.context}"
            f"{', has ' + fmt_bytes(avail) if avail is not None else ''}; {report.backend}")
    if report.fits:
        line += f"; ~{report.decode_tok_s:.1f} tok/s"
    if hint:
        line += f"; {hint}"
    return line + ")"


def main_reason(report) -> str | None:
    """The reason that explains a verdict best (the 'does not fit' / 'needs' line), else the first."""
    reasons = list(getattr(report, "reasons", []) or [])
    for key in ("does not fit", "needs ", "short by"):
        for r in reasons:
            if key in r:
                return r
    return reasons[0] if reasons else None


def _size(n: int | None) -> str:
    """Bytes in a human unit (KiB..TiB)."""
    if n is None:
        return "?"
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if x < 1024:
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return f"{x:.1f} TiB"


def describe(res: CheckResult) -> list[str]:
    """One line per checked model (verdict, memory, decode tok/s), its main reason when it does not fit, and one
    line per plugin decision."""
    lines = []
    for m in res.models:
        if m.report is None:
            lines.append(f"  {m.label}: not checked ({m.error})")
            continue
        r = m.report
        lines.append(
            f"  {m.label} [{r.quant or '?'}, {_size(m.size)}]: {r.verdict} on {r.hardware_name} "
            f"({_size(r.memory.total_bytes)} needed, ~{r.decode_tok_s:.1f} tok/s decode)"
        )
        lines += [f"    {note}" for note in m.notes]
        why = main_reason(r)
        if not r.fits and why:
            lines.append(f"    {why}")
    for d in res.decisions:
        if d.message:
            lines.append(f"  [{d.plugin or 'plugin'}] {d.action}: {d.message}")
    return lines
