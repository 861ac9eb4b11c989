"""The few constants of the cluster physics that public rows pin down, per engine (never per setup).

Everything else in `speed` is physics (roofline per device, link latency and bytes). What the rows fit:
* `rpc_hop_s`: llama.cpp RPC, fixed cost per RPC device per token beyond the link's latency and bytes (graph
  dispatch, the server's synchronisation, socket wake-ups);
* `rpc_stream_bps`: llama.cpp RPC prefill, the rate at which the main host moves micro-batch activations to and from
  the RPC devices, one device after another (fitted on prompt rows by a grid search in the benchmark);
* `exo_hop_s`: exo pipeline, fixed cost per ring boundary per token (MLX distributed send/recv, evaluation sync);
* `exo_allreduce_s`: exo tensor sharding, fixed cost per all-reduce (two per layer per token) over RDMA;
* `vllm_decode_eff`: vLLM/SGLang single-stream decode over the roofline of llmfit's CUDA kernels model;
* `decode_eff` and `token_s`: exo / llama.cpp RPC, single-device decode time = the single-node predictor's time /
  decode_eff + token_s, fitted on the rows of one device only (exo runs mlx-lm behind its own runner, API and
  token streaming: a fixed cost per token that a multiplicative factor alone cannot carry from a 5B-active model
  at 90 tok/s to a 37B-active one at 20 tok/s);
* `bands`: per engine, the log-error span of the leave-setup-out predictions (10th..90th percentile), widened
  where the rows are few.
`benchmarks/cluster_accuracy.py --write` refits them from data/benchdata/multinode/measurements.csv and writes
llmfit_core/data/cluster_constants.json; without that file the physics defaults below apply.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field, replace
from importlib import resources

import numpy as np

CONSTANTS_FILE = "data/cluster_constants.json"
# A band never narrower than this (log units, about -20% .. +20%); engines without rows get DEFAULT_BAND.
MIN_BAND = (-0.22, 0.22)
DEFAULT_BAND = (-0.6, 0.5)
# Rows needed before a fitted band replaces DEFAULT_BAND; between MIN_ROWS_FOR_BAND and this, the band is widened.
MIN_ROWS_FOR_BAND = 4


@dataclass(frozen=True)
class ClusterConstants:
    rpc_hop_s: float = 1.0e-3
    rpc_stream_bps: float = 400e6
    exo_hop_s: float = 1.0e-3
    exo_allreduce_s: float = 50e-6
    vllm_decode_eff: float = 0.75
    # exo / llama.cpp RPC: measured over predicted single-device decode (rows without any split), 1 = the
    # single-node predictor as it is
    decode_eff: dict = field(default_factory=dict)
    token_s: dict = field(default_factory=dict)  # engine -> fixed seconds per token outside the device's compute
    bands: dict = field(default_factory=dict)  # engine -> [lo, hi] log(predicted/measured) span, decode
    rows: dict = field(default_factory=dict)  # engine -> number of rows the fit saw
    prefill_rows: dict = field(default_factory=dict)  # engine -> prompt-speed rows the prefill physics was scored on
    source: str = "physics defaults (no fit file)"

    def band(self, engine: str) -> tuple[float, float]:
        b = self.bands.get(engine)
        return (float(b[0]), float(b[1])) if b else DEFAULT_BAND

    def to_dict(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def load_constants() -> ClusterConstants:
    res = resources.files("llmfit_core").joinpath(CONSTANTS_FILE)
    if not res.is_file():
        return ClusterConstants()
    data = json.loads(res.read_text(encoding="utf-8"))
    keys = ClusterConstants.__dataclass_fields__
    return ClusterConstants(**{k: v for k, v in data.items() if k in keys})


@dataclass
class Sample:
    """One measured decode row and the parts of its predicted time per token (from speed.SpeedParts)."""

    engine: str
    measured_s: float
    compute_s: float  # device time (roofline x correction); vLLM: the roofline without llama.cpp's correction
    link_s: float  # latency + bytes over the links
    units: float  # how many times the engine's fitted fixed cost is paid per token
    unit: str  # which constant: rpc_hop_s | exo_hop_s | exo_allreduce_s | vllm_decode_eff
    fixed_s: float = 0.0  # other fixed costs already known


def _single_device_fit(rows: list[tuple[float, float]]) -> tuple[float, float]:
    """(decode_eff, token_s) from (predicted compute, measured) seconds per token of single-device rows: least squares
    of the relative error of compute / eff + token_s when the rows span a wide range of compute times (else the
    median ratio, token_s 0); eff within 0.3..2, token_s >= 0."""
    comp = np.array([c for c, _ in rows])
    meas = np.array([m for _, m in rows])
    if len(rows) >= 3 and comp.max() >= 2 * comp.min():
        x = np.stack([comp / meas, 1 / meas], axis=1)
        inv_eff, token = np.linalg.lstsq(x, np.ones(len(rows)), rcond=None)[0]
        if token >= 0 and 0.5 <= inv_eff <= 1 / 0.3:
            return round(float(1 / inv_eff), 3), float(token)
    return round(min(max(float(np.median(comp / meas)), 0.3), 2.0), 3), 0.0


def fit_constants(samples: list[Sample], base: ClusterConstants | None = None) -> ClusterConstants:
    """Per constant the median of what each row implies (robust to the odd row); constants without rows keep `base`."""
    base = base or ClusterConstants()
    values: dict[str, list[float]] = {}
    eff: dict[str, float] = dict(base.decode_eff)
    token: dict[str, float] = dict(base.token_s)
    singles: dict[str, list[tuple[float, float]]] = {}
    for s in samples:
        if s.unit != "vllm_decode_eff" and s.units == 0 and s.measured_s > s.link_s + s.fixed_s:
            singles.setdefault(s.engine, []).append((s.compute_s, s.measured_s - s.link_s - s.fixed_s))
    for engine, rows in singles.items():
        if len(rows) >= 2:
            eff[engine], token[engine] = _single_device_fit(rows)
    for s in samples:
        if s.unit != "vllm_decode_eff":
            s = replace(s, compute_s=s.compute_s / eff.get(s.engine, 1.0) + token.get(s.engine, 0.0))
        if s.unit == "vllm_decode_eff":
            rest = s.measured_s - s.link_s - s.fixed_s
            if rest > 0:
                values.setdefault(s.unit, []).append(s.compute_s / rest)
        elif s.units > 0:
            values.setdefault(s.unit, []).append((s.measured_s - s.compute_s - s.link_s - s.fixed_s) / s.units)
    fitted = {}
    for unit, vs in values.items():
        v = float(np.median(vs))
        fitted[unit] = min(max(v, 0.05), 1.5) if unit == "vllm_decode_eff" else max(v, 0.0)
    return ClusterConstants(**{**asdict(base), **fitted, "decode_eff": eff, "token_s": token, "source": "fitted"})


def band_from_errors(log_errors: list[float]) -> tuple[float, float]:
    """The decode band (log units) from leave-setup-out errors log(measured/predicted): 10th..90th percentile,
    at least MIN_BAND, widened by sqrt(MIN_ROWS/n) and at least DEFAULT_BAND when the rows are fewer than
    MIN_ROWS_FOR_BAND, DEFAULT_BAND without rows."""
    if len(log_errors) < 2:
        return DEFAULT_BAND
    lo, hi = np.percentile(log_errors, [10, 90])
    widen = math.sqrt(max(MIN_ROWS_FOR_BAND / len(log_errors), 1.0))
    floor = DEFAULT_BAND if len(log_errors) < MIN_ROWS_FOR_BAND else MIN_BAND  # thin data: never narrower than without
    return (round(min(float(lo) * widen, floor[0]), 3), round(max(float(hi) * widen, floor[1]), 3))
