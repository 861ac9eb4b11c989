"""Per-row left-out-device errors of the shipped throughput procedure, as a CSV for finding what to fix.

    python -m training.row_errors [--out rows.csv] [--fast]

One line per row: head, device, backend, source, model, test, depth, measured, roofline and corrected
(left-out) tok/s, measured/corrected, primary, and the training row's note. `--fast` uses the fixed first
candidate instead of the nested selection (about half the time).
"""

from __future__ import annotations

import argparse
import csv
import sys

import numpy as np

from training.train_throughput import HEADS, LOCAL_RECORDS, evaluate, primary_mask


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/row_errors.csv")
    ap.add_argument("--fast", action="store_true", help="fixed first candidate, no nested selection")
    args = ap.parse_args(argv)
    t, evals, _ = evaluate([str(LOCAL_RECORDS)], nested=not args.fast)
    prim = primary_mask(t)
    out = []
    for head in HEADS:
        mask = t.is_decode if head == "decode" else ~t.is_decode
        idx = np.flatnonzero(mask)
        pred = t.roofline[mask] * np.exp(evals[head].oof_log)
        for j, i in enumerate(idx):
            r = t.rows[i]
            out.append({"head": head, "device": r.device, "backend": r.backend, "source": t.sources[i],
                        "model": r.model_ref or getattr(r.spec, "name", ""), "test": r.test_label or r.test, "prompt": r.prompt_tokens,
                        "depth": r.depth, "measured": round(float(t.measured[i]), 2),
                        "roofline": round(float(t.roofline[i]), 2), "corrected": round(float(pred[j]), 2),
                        "ratio": round(float(t.measured[i] / pred[j]), 3), "primary": bool(prim[i]),
                        "note": (r.note or "")[:160]})
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0]))
        w.writeheader()
        w.writerows(out)
    print(f"written {args.out} ({len(out)} rows)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
