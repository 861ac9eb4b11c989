"""An ordinary huggingface_hub download script, checked for fit before any weight byte moves.

The only addition is `guard.install(...)`, and it may come after the imports, as here: the guard patches
huggingface_hub's download functions themselves, so a name imported earlier is checked too. In block mode
a model that does not fit raises DownloadBlockedError before the download starts (this script exits 3);
one that fits prints an `llmfit: fits: ...` line and downloads. LLMFIT_HARDWARE=NAME|PATH checks against
another machine. Without editing a script at all:  LLMFIT_GUARD=block python script.py

    python examples/guard_download.py [REPO_ID] [FILENAME]   (needs the Hub, or HF_ENDPOINT pointing at a mirror)
"""

import sys

from huggingface_hub import hf_hub_download  # imported before the guard is installed: still checked

import llmfit_core.guard as guard

guard.install(mode="block")

repo_id = sys.argv[1] if len(sys.argv) > 1 else "bartowski/Llama-3.2-1B-Instruct-GGUF"
filename = sys.argv[2] if len(sys.argv) > 2 else "Llama-3.2-1B-Instruct-Q4_K_M.gguf"
try:
    path = hf_hub_download(repo_id, filename)
except guard.DownloadBlockedError as exc:
    print(f"not downloaded: {exc}")
    sys.exit(3)
except Exception as exc:  # no network, no such repo or file, no access: huggingface_hub's own error
    print(f"download failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
    sys.exit(1)
print("downloaded to", path)
