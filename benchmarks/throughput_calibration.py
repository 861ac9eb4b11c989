"""How much of the throughput error is the device's, and how much `llmfit calibrate` can take away.

Three figures per head (decode, prefill), all on the primary rows of the public tables + this project's runs:

1. left-out devices: the shipped procedure's nested group-K-fold error (weights/MODEL_CARD.md's figure);
2. calibration on the device: for every left-out device, k of its rows play the part of local `llmfit bench`
   records; `llmfit_core.bench.calibration.fit_factors` (the code `llmfit calibrate` runs: a per-(test,
   quant family) factor shrunk toward 1) is fitted on them and applied to the device's OTHER rows. Repeated
   over random draws of the k rows (seeded); "before" is the same held-out rows without calibration;
3. two references that no user gets, to read the numbers by: the error left when each device's median
   residual is known exactly (one perfect factor per device), and a row-level 5-fold CV where rows of the
   same device are seen in training (the noise between rows of one device that no device-level factor or
   feature removes).

    python benchmarks/throughput_calibration.py [--extra rows.csv|records.jsonl ...] [--draws 20]

Writes benchmarks/results/throughput_calibration.md and .json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llmfit_core.bench.calibration import Sample, fit_factors  # noqa: E402
from training.train_throughput import HEADS, LOCAL_RECORDS, evaluate, head_data, make_model, primary_mask  # noqa: E402

KS = (1, 3, 5)
SEED = 0


def ape(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    return np.abs(pred - meas) / meas


def calibration_sim(pred, meas, groups, fams, prim, k: int, draws: int, test: str) -> dict:
    """Mean APE of held-out rows before/after a calibration fitted on k random rows of the same device."""
    rng = np.random.default_rng(SEED)
    before, after, devices = [], [], 0
    for dev in sorted(set(groups[prim])):
        idx = np.flatnonzero((groups == dev) & prim)
        if len(idx) < k + 1:
            continue
        devices += 1
        for _ in range(draws):
            cal_rows = rng.choice(idx, size=k, replace=False)
            rest = np.setdiff1d(idx, cal_rows)
            cal = fit_factors([Sample(test, str(fams[i]), float(meas[i]), float(pred[i])) for i in cal_rows], "sim")
            factor = np.array([cal.factor(test, str(fams[i])) for i in rest])
            before.extend(ape(pred[rest], meas[rest]))
            after.extend(ape(pred[rest] * factor, meas[rest]))
    return {"k": k, "devices": devices, "rows_scored": len(before) // max(draws, 1),
            "mape_before": float(np.mean(before)) if before else None,
            "mape_after": float(np.mean(after)) if after else None}


def device_oracle(pred, meas, groups, prim) -> float:
    """MAPE when each device's median log residual (over its scored rows) is applied to those rows."""
    out = pred.copy()
    for dev in set(groups[prim]):
        m = (groups == dev) & prim
        out[m] = pred[m] * np.exp(np.median(np.log(meas[m] / pred[m])))
    return float(ape(out[prim], meas[prim]).mean())


def row_kfold(t, mask) -> float:
    """Row-level shuffled 5-fold CV of the plain GBR (devices seen in training): the within-device noise."""
    d = head_data(t, mask)
    oof = np.zeros(len(d.y))
    for tr, te in KFold(5, shuffle=True, random_state=SEED).split(d.X):
        oof[te] = make_model().fit(d.X[tr], d.y[tr], sample_weight=d.w[tr]).predict(d.X[te])
    return d.mape(np.arange(len(d.y)), oof)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extra", nargs="*", default=[str(LOCAL_RECORDS)],
                    help="extra rows (default: this project's own CPU runs, as in the model card)")
    ap.add_argument("--draws", type=int, default=20, help="random draws of the calibration rows per device")
    args = ap.parse_args(argv)
    t, evals, s = evaluate(args.extra, nested=True)
    prim_all = primary_mask(t)
    result = {"n_rows": s["n_rows"], "n_devices": s["n_devices"], "draws": args.draws, "heads": {}}
    for head in HEADS:
        mask = t.is_decode if head == "decode" else ~t.is_decode
        test = "tg" if head == "decode" else "pp"
        pred = t.roofline[mask] * np.exp(evals[head].oof_log)
        meas, groups, prim = t.measured[mask], t.groups[mask], prim_all[mask]
        fams = t.inputs["qfam_code"][mask]
        result["heads"][head] = {
            "left_out_mape": float(ape(pred[prim], meas[prim]).mean()),
            "n_primary": int(prim.sum()),
            "calibration": [calibration_sim(pred, meas, groups, fams, prim, k, args.draws, test) for k in KS],
            "device_oracle_mape": device_oracle(pred, meas, groups, prim),
            "row_kfold_mape": row_kfold(t, mask),
        }
        if head == "prefill":  # what `llmfit bench` measures and `fit` reports: pp512, calibrated and scored there
            p512 = prim & (t.inputs["prompt_tokens"][mask] == 512)
            result["heads"]["prefill, pp512 rows only"] = {
                "left_out_mape": float(ape(pred[p512], meas[p512]).mean()), "n_primary": int(p512.sum()),
                "calibration": [calibration_sim(pred, meas, groups, fams, p512, k, args.draws, test) for k in KS],
                "device_oracle_mape": device_oracle(pred, meas, groups, p512),
                "row_kfold_mape": None,
            }
    lines = [f"# Throughput error: device share and calibration ({result['n_rows']} rows, {result['n_devices']} devices)", "",
             "Generated by `python benchmarks/throughput_calibration.py` (extra rows: "
             + ", ".join(f"`{e}`" for e in s["extra"]) + f"; {args.draws} random draws per device). Primary rows only. "
             "'left out' is the shipped procedure's nested group-K-fold error. 'calibrated with k rows': for each "
             "left-out device, k random rows of it are taken as local bench records, `fit_factors` (what `llmfit "
             "calibrate` fits) is applied to the device's other rows; 'before' is those same rows uncalibrated. "
             "Devices with fewer than k+1 primary rows are not scored at that k. The two last columns are references "
             "no user gets: a perfect per-device factor, and row-level CV with the device's other rows in training.", "",
             "| head | left out (all primary) | k | devices | rows scored per draw | before | calibrated | perfect device factor | rows of the device seen (row CV) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for head, h in result["heads"].items():
        for c in h["calibration"]:
            lines.append(f"| {head} | {h['left_out_mape']:.1%} | {c['k']} | {c['devices']} | {c['rows_scored']} | "
                         f"{c['mape_before']:.1%} | {c['mape_after']:.1%} | {h['device_oracle_mape']:.1%} | "
                         + (f"{h['row_kfold_mape']:.1%} |" if h["row_kfold_mape"] is not None else "– |"))
    text = "\n".join(lines) + "\n"
    print(text)
    out = REPO / "benchmarks" / "results" / "throughput_calibration.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
