"""Real measurements on this machine: `llmfit bench`, the local record store, calibration, export/import.

Modules: `runner` (timing in a subprocess), `store` (append-only JSONL), `fingerprint` (hardware id),
`records` (building a record), `calibration` (per-machine correction), `exchange` (export/import),
`synthetic` (random-weight models for calibration without downloads).
"""
