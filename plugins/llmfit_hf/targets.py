"""What an `hf download ...` command line would download (hook `llmfit_download_target`), checked by the Hub's
own dry run of the same download."""

from __future__ import annotations

from dataclasses import dataclass

from llmfit_core.downloads import CheckedModel, CheckResult, DownloadTarget, PlannedFile, summary
from llmfit_hf import TOOLS
from llmfit_hf.hub import token_override
from llmfit_hf.predownload import DownloadArgs, check_plan, parse_download_args, plan_download


@dataclass
class HubDownload(DownloadTarget):
    """`hf download REPO [FILES...] [OPTIONS]` of a model repo (or a huggingface_hub call the guard read): every
    model among the files it would fetch. `planned`: the files, when a dry run already said (the guard)."""

    args: DownloadArgs | None = None
    planned: list[PlannedFile] | None = None

    def check(self, hardware=None, context=None, options: dict | None = None) -> CheckResult:
        """huggingface_hub's dry run of the same download (cached files skipped), then every model in it."""
        with token_override(self.args.token):
            planned = self.planned if self.planned is not None else plan_download(self.args)
            return check_plan(self.args.repo_id, planned, revision=self.args.revision, hardware=hardware,
                              context=context, options=options)

    def line(self, model: CheckedModel) -> str:
        return f"{self.label} [{model.label}]: {summary(model.report, model.hint)}"


def download_target(tool: str, args: list[str]) -> HubDownload | None:
    """`hf download REPO [FILES...] [OPTIONS]` of a model repo (`--dry-run` too: its verdict is said); None for
    any other command, `--help`, or a dataset/space."""
    if tool not in TOOLS or not args or args[0] != "download" or any(a in ("-h", "--help") for a in args[1:]):
        return None
    d = parse_download_args(args[1:])
    if (d.repo_type or "model") != "model":
        return None  # not a model
    files = [f for f in d.filenames if f.lower().endswith(".gguf")]
    return HubDownload(d.repo_id, f"hf download {d.repo_id}", file=files[0] if files else None, dry_run=d.dry_run,
                       args=d)
