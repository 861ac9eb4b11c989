"""gguf-py's constants (`gguf/constants.py`: ggml types, their block sizes, file types, value types, tensor names)
without importing the whole `gguf` package.

`from gguf.constants import ...` runs `gguf/__init__.py` first, which imports numpy, yaml and the
tensor-name tables: about 0.4 s of a cold start on the reference machine (issue 15), on paths (fit from
the catalog, check of a GGUF header) that only need these tables. `gguf/constants.py` itself imports only
the standard library, so this module loads that one file of the installed gguf package, under a private
module name: the facts stay gguf's own (no copy to drift; tests/test_gguf_constants.py checks they equal
`gguf`'s). The enums are IntEnums, so they compare and hash equal to `gguf`'s members.
"""

from __future__ import annotations

import importlib.util
import sys


def _load_constants():
    # Loaded by file path on purpose: importing `gguf.constants` would run gguf/__init__.py (start-up time).
    name = "llmfit_core._gguf_constants_file"
    if name in sys.modules:
        return sys.modules[name]
    package = importlib.util.find_spec("gguf")
    if package is None or not package.submodule_search_locations:
        raise ImportError("the gguf package is not installed (pip install gguf)")
    location = next(iter(package.submodule_search_locations))
    spec = importlib.util.spec_from_file_location(name, f"{location}/constants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_constants = _load_constants()

GGML_QUANT_SIZES = _constants.GGML_QUANT_SIZES
GGMLQuantizationType = _constants.GGMLQuantizationType
LlamaFileType = _constants.LlamaFileType
GGUFValueType = _constants.GGUFValueType
GGUF_MAGIC = _constants.GGUF_MAGIC
GGUF_DEFAULT_ALIGNMENT = _constants.GGUF_DEFAULT_ALIGNMENT
# llama.cpp's tensor tables (tensor_layout builds the tensor lists of architectures from them)
MODEL_ARCH = _constants.MODEL_ARCH
MODEL_ARCH_NAMES = _constants.MODEL_ARCH_NAMES
MODEL_TENSOR = _constants.MODEL_TENSOR
MODEL_TENSORS = _constants.MODEL_TENSORS
TENSOR_NAMES = _constants.TENSOR_NAMES
