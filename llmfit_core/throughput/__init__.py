"""Throughput prediction: roofline physics x a learned ONNX correction (see docs/architecture.md)."""

from llmfit_core.throughput.correction import load_correction
from llmfit_core.throughput.predict import (
    ThroughputPrediction,
    decode_position,
    hardware_arrays,
    model_arrays,
    predict,
    predict_batch,
)
from llmfit_core.throughput.roofline import HardwareFigures, ModelFigures, hardware_figures, model_figures, roofline

__all__ = [
    "ThroughputPrediction",
    "predict",
    "predict_batch",
    "model_arrays",
    "hardware_arrays",
    "decode_position",
    "model_figures",
    "hardware_figures",
    "roofline",
    "ModelFigures",
    "HardwareFigures",
    "load_correction",
]
