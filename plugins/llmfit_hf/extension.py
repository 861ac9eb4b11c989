"""`hf-fit` / `hf fit ...`: the hf CLI extension. `hf fit download ARGS...` checks, then runs `hf download ARGS...`.

`hf` runs an extension `fit` only when it is registered under its extensions directory
(`~/.local/share/hf/extensions/hf-fit/manifest.json`, see huggingface_hub/cli/extensions.py); it cannot
install one offline. `install_extension()` (`llmfit hf install-extension`) writes that manifest and a
small launcher locally.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from llmfit_core.cli.main import main as llmfit_main
from llmfit_hf.checked_download import download_main

USAGE = """usage: hf fit download REPO_ID [FILES...] [hf download options] [--force] [--strict] [--hardware NAME]
       hf fit ls REPO_ID | hf fit search QUERY   (annotated listings; same as `llmfit hf ...`)

Checks that the model fits this machine before `hf download` fetches it (exit 3 when it does not fit)."""

SHORT_NAME = "fit"
COMMIT = "local"


def extensions_root(root: str | os.PathLike | None = None) -> Path:
    """hf's extensions directory (huggingface_hub.cli.extensions.EXTENSIONS_ROOT unless given)."""
    if root is not None:
        return Path(root).expanduser()
    try:
        from huggingface_hub.cli.extensions import EXTENSIONS_ROOT  # lazy: optional runner; start-up (0.48 s)

        return Path(EXTENSIONS_ROOT).expanduser()
    except Exception:
        return Path("~/.local/share/hf/extensions").expanduser()


def install_extension(root: str | os.PathLike | None = None) -> Path:
    """Register `hf fit`: a launcher script + manifest.json in hf's extensions directory. Returns the launcher."""
    ext_dir = extensions_root(root) / f"hf-{SHORT_NAME}"
    ext_dir.mkdir(parents=True, exist_ok=True)
    launcher = ext_dir / f"hf-{SHORT_NAME}"
    launcher.write_text(
        "#!/bin/sh\n# written by `llmfit hf install-extension`\n"
        f"exec {shlex.quote(sys.executable)} -m llmfit_hf.extension \"$@\"\n"
    )
    launcher.chmod(0o755)
    manifest = {
        "owner": "llmfit",
        "repo": f"hf-{SHORT_NAME}",
        "repo_id": f"llmfit/hf-{SHORT_NAME}",
        "short_name": SHORT_NAME,
        "executable_path": str(launcher),
        "type": "binary",
        "installed_at": datetime.now(timezone.utc).isoformat(),
        "description": "Check that a model fits this machine before downloading (llmfit)",
        "commit_sha": COMMIT,
    }
    (ext_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    # hf asks GitHub for updates once a day unless this cache file is fresh: we are a local extension.
    (ext_dir / ".latest_commit").write_text(COMMIT)
    return launcher


def main(argv: list[str] | None = None) -> None:
    """Entry point of `hf-fit` (console script) and of the registered `hf fit` extension."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print(USAGE)
        sys.exit(0)
    if not args:
        print("hf fit: error: missing command (download, ls or search; see 'hf fit --help')", file=sys.stderr)
        sys.exit(2)
    cmd, rest = args[0], args[1:]
    if cmd == "download":
        sys.exit(download_main(rest, prog="hf fit download"))
    if cmd in ("ls", "search"):

        llmfit_main(["hf", cmd, *rest])
        return
    print(f"hf fit: error: unknown command {cmd[:80]!r} (download, ls or search; see 'hf fit --help')", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
