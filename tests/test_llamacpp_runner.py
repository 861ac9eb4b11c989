"""llama.cpp runner: log parsing on recorded logs, and real loads in a child process."""

from __future__ import annotations

import pytest

from llmfit_core.errors import BenchError
from llmfit_core.llamacpp_runner import load_and_measure, parse_llama_log

MIB = 1024 * 1024

# Recorded: llama-cpp-python 0.3.36 (portable CPU build), synthetic gemma2-tiny, n_ctx 2048, KV q8_0,
# flash attention auto (verbose lines not about memory removed).
GEMMA2_Q8_LOG = """\
load_tensors: loading model tensors, this can take a while... (load_mode = mmap)
load_tensors:   CPU_Mapped model buffer size =     8.02 MiB
............................
llama_init_from_model: enabling flash_attn since it is required for quantized V cache
llama_context: constructing llama_context
llama_context: n_seq_max             = 1
llama_context: n_ctx                 = 2048
llama_context: n_ctx_seq             = 2048
llama_context: n_batch               = 2048
llama_context: n_ubatch              = 512
llama_context: causal_attn           = 1
llama_context: flash_attn            = enabled
llama_context:        CPU  output buffer size =     0.02 MiB
llama_kv_cache_iswa: creating non-SWA KV cache, size = 2048 cells
llama_kv_cache:        CPU KV buffer size =     1.06 MiB
llama_kv_cache: size =    1.06 MiB (  2048 cells,   2 layers,  1/1 seqs), K (q8_0):    0.53 MiB, V (q8_0):    0.53 MiB
llama_kv_cache_iswa: creating     SWA KV cache, size = 768 cells
llama_kv_cache:        CPU KV buffer size =     0.40 MiB
llama_kv_cache: size =    0.40 MiB (   768 cells,   2 layers,  1/1 seqs), K (q8_0):    0.20 MiB, V (q8_0):    0.20 MiB
sched_reserve:        CPU compute buffer size =     9.00 MiB
sched_reserve: graph: nodes = 202, splits = 1, input objects = 4, input tensors = 13
~llama_context:        CPU compute buffer size is   9.0020 MiB, matches expectation of   9.0020 MiB
"""

# Recorded: same build, llama-tiny Q4_0 with extra buffer types (weight repacking) on.
REPACK_LOG = """\
load_tensors:   CPU_Mapped model buffer size =     2.97 MiB
load_tensors:   CPU_REPACK model buffer size =     1.69 MiB
llama_context: flash_attn            = auto
llama_context:        CPU  output buffer size =     0.02 MiB
llama_kv_cache:        CPU KV buffer size =     1.00 MiB
resolve_fused_ops: Flash Attention enabled
sched_reserve:        CPU compute buffer size =     9.00 MiB
"""

# Older llama.cpp builds (2024) logged the KV cache as "KV self size" and buffers per CUDA device.
OLD_CUDA_LOG = """\
llm_load_tensors:        CPU buffer size =   281.81 MiB
llm_load_tensors:      CUDA0 buffer size =  4403.49 MiB
llama_kv_cache_init:      CUDA0 KV buffer size =  1024.00 MiB
llama_new_context_with_model: KV self size  = 1024.00 MiB, K (f16):  512.00 MiB, V (f16):  512.00 MiB
llama_new_context_with_model:  CUDA_Host  output buffer size =     0.49 MiB
llama_new_context_with_model:      CUDA0 compute buffer size =   560.00 MiB
llama_new_context_with_model:  CUDA_Host compute buffer size =    24.01 MiB
"""


def test_parse_recorded_swa_q8_log():
    log = parse_llama_log(GEMMA2_Q8_LOG)
    assert log.model_bytes == round(8.02 * MIB)
    assert log.kv_bytes == round(1.06 * MIB) + round(0.40 * MIB)
    assert log.kv_cells == [2048, 768] and log.kv_layers == [2, 2]
    assert log.kv_k_mib == [0.53, 0.20]
    assert log.output_bytes == round(0.02 * MIB)
    assert log.compute_bytes == round(9.0020 * MIB)  # the precise figure wins over the 2-decimal one
    assert (log.n_ctx, log.n_batch, log.n_ubatch) == (2048, 2048, 512)
    assert log.flash_attn is True
    assert log.graph_nodes == 202 and log.graph_splits == 1


def test_parse_repack_and_fa_auto():
    log = parse_llama_log(REPACK_LOG)
    assert log.by_backend("model") == {"CPU_Mapped": round(2.97 * MIB), "CPU_REPACK": round(1.69 * MIB)}
    assert log.repack_bytes == round(1.69 * MIB)
    assert log.flash_attn is True  # "auto" resolved later in the log
    assert log.total_bytes == log.model_bytes + log.kv_bytes + log.compute_bytes + log.output_bytes


def test_parse_old_cuda_log_per_backend():
    log = parse_llama_log(OLD_CUDA_LOG)
    assert log.kv_bytes == 1024 * MIB
    assert log.by_backend("compute") == {"CUDA0": 560 * MIB, "CUDA_Host": round(24.01 * MIB)}
    assert log.output_bytes == round(0.49 * MIB)
    assert log.by_backend("model") == {"CPU": round(281.81 * MIB), "CUDA0": round(4403.49 * MIB)}


def test_parse_garbage_is_empty():
    log = parse_llama_log("nothing to see\n\x00\xff")
    assert log.total_bytes == 0 and log.n_ctx is None and log.flash_attn is None


def test_missing_file_and_bad_kv_type(tmp_path):
    with pytest.raises(BenchError, match="not found"):
        load_and_measure(tmp_path / "nope.gguf")
    f = tmp_path / "x.gguf"
    f.write_bytes(b"GGUF")
    with pytest.raises(BenchError, match="KV cache type"):
        load_and_measure(f, type_k="q9_9")


@pytest.mark.slow
def test_child_failure_is_bench_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 64)
    with pytest.raises(BenchError, match="failed"):
        load_and_measure(bad, n_threads=1)


@pytest.mark.slow
def test_real_load_and_decode(tmp_path):
    from llmfit_core.synth import write_synthetic_gguf

    path = write_synthetic_gguf(tmp_path / "t.gguf", "llama-tiny")
    rep = load_and_measure(path, n_ctx=600, n_threads=1, prompt_tokens=40, gen_tokens=3)
    assert rep.log.n_ctx == 768  # padded to 256
    assert rep.log.kv_cells == [768]
    assert rep.log.model_bytes > 0 and rep.log.compute_bytes > 0
    assert rep.prompt_tokens == 40 and rep.gen_tokens == 3 and rep.gen_seconds > 0
    assert rep.rss_after_load > rep.rss_start
