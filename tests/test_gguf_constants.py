"""llmfit_core.gguf_constants: gguf-py's own constants, loaded without the gguf package (start-up time)."""

import subprocess
import sys

import gguf

from llmfit_core import gguf_constants


def test_tables_equal_gguf():
    assert gguf_constants.GGML_QUANT_SIZES == gguf.GGML_QUANT_SIZES
    for ours, theirs in ((gguf_constants.GGMLQuantizationType, gguf.GGMLQuantizationType),
                         (gguf_constants.LlamaFileType, gguf.LlamaFileType),
                         (gguf_constants.GGUFValueType, gguf.GGUFValueType)):
        assert [(m.name, m.value) for m in ours] == [(m.name, m.value) for m in theirs]
        assert all(ours[m.name] == m and hash(ours[m.name]) == hash(m) for m in theirs)
    assert gguf_constants.GGUF_MAGIC == gguf.GGUF_MAGIC
    # the tensor tables tensor_layout builds its names from
    assert gguf_constants.TENSOR_NAMES == gguf.TENSOR_NAMES and gguf_constants.MODEL_ARCH_NAMES == gguf.MODEL_ARCH_NAMES
    assert {a: set(ts) for a, ts in gguf_constants.MODEL_TENSORS.items()} == {
        a: set(ts) for a, ts in gguf.MODEL_TENSORS.items()}
    assert gguf_constants.GGUF_DEFAULT_ALIGNMENT == gguf.GGUF_DEFAULT_ALIGNMENT


def test_reading_a_gguf_header_does_not_import_gguf_or_numpy():
    code = ("import sys; import llmfit_core.readers.gguf, llmfit_core.quant; "
            "print(sorted(m for m in ('gguf', 'numpy', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
