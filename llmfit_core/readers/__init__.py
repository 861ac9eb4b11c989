"""Model header readers: only headers are ever read, never the weights.

- `source`: LocalSource / HTTPRangeSource / MemorySource (byte counts, hard cap, Range reads)
- `gguf_header`: read_gguf_header(source) -> GGUFHeader, the safe byte parser (limits, never the weights)
- `gguf`: read_gguf(path_or_url_or_source, ref=None), read_gguf_url(url, ...): a header's meaning, as a ModelSpec
- `safetensors`: read_safetensors(path_or_url_or_source), read_safetensors_model(dir_or_files, config=None)
- `hf_config`: spec_from_config(config, ref, quant=None)
- `local`: read_local(path, quant=None)
"""
