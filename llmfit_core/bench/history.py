"""`llmfit bench --history`: the local store's runs, bench and observed, one row each (newest last)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class HistoryRow:
    """One stored run as the history lists it."""

    timestamp: str
    source: str  # local | synthetic | observed | imported ...
    model: str  # "llama 1.2B Q4_K_M" from the record's model facts (records keep no file names)
    backend: str
    n_ctx: int | None
    n_gpu_layers: int | None
    pp_tokens: int | None
    pp_tok_s: float | None
    tg_tokens: int | None
    tg_tok_s: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def _num(value, kind=float):
    try:
        return kind(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def history_rows(records: list[dict], source: str | None = None) -> list[HistoryRow]:
    """Rows of the records (optionally of one source), in store order; malformed records are skipped."""
    rows = []
    for r in records:
        try:
            if source and r.get("source") != source:
                continue
            m = r.get("model") or {}
            st = r.get("settings") or {}
            res = r.get("results") or {}
            params = _num(m.get("params"))
            model = " ".join(x for x in (str(m.get("arch") or "?"), f"{params / 1e9:.2g}B" if params else "",
                                         str(m.get("quant") or "")) if x)
            pp, tg = res.get("pp") or {}, res.get("tg") or {}
            rows.append(HistoryRow(timestamp=str(r.get("timestamp") or ""), source=str(r.get("source") or "?"),
                                   model=model, backend=str((r.get("runtime") or {}).get("name") or "llama.cpp-cpu"),
                                   n_ctx=_num(st.get("n_ctx"), int), n_gpu_layers=_num(st.get("n_gpu_layers"), int),
                                   pp_tokens=_num(pp.get("n_tokens"), int), pp_tok_s=_num(pp.get("tok_s")),
                                   tg_tokens=_num(tg.get("n_tokens"), int), tg_tok_s=_num(tg.get("tok_s"))))
        except (AttributeError, TypeError):
            continue
    return rows
