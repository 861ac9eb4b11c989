"""Model header readers: GGUF, safetensors, HF config.json, local paths. Only headers are read."""
