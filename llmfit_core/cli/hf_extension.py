"""`hf-fit`: the `hf fit ...` extension entry point (placeholder)."""

from __future__ import annotations

import sys


def main() -> None:
    print("llmfit: error: hf-fit is not built yet", file=sys.stderr)
    sys.exit(1)
