"""Bytes transferred to read a remote GGUF header, for real-sized vocabularies and tensor lists.

Writes header-only GGUFs (sparse files: the tensor data is a hole) with the tensor layout of real
models at Q4_K_M and tokenizers of real size (random token strings with a realistic length spread,
plus merges for BPE vocabularies), serves them from a local HTTP server that honours Range, and
reads them with read_gguf(url). Prints a table and saves benchmarks/results/header_transfer.{md,json}.

    python benchmarks/header_transfer.py [VOCAB_DIR]

VOCAB_DIR (default: the llama.cpp `models/` directory of an unpacked llama-cpp-python sdist under
/tmp/lcp_src, if present) holds llama.cpp's real `ggml-vocab-*.gguf` tokenizer headers: each is read
remotely and compared with a local read (same metadata, same data offset).
"""

from __future__ import annotations

import http.server
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from llmfit_core.readers.gguf import read_gguf  # noqa: E402
from llmfit_core.readers.hf_config import spec_from_config  # noqa: E402
from llmfit_core.synth import finish_sparse_gguf, header_gguf_writer  # noqa: E402

CASES = {
    # name: (config, tokenizer model, vocab)
    "Llama-2-7B (32k SPM, scores)": (dict(model_type="llama", hidden_size=4096, num_hidden_layers=32,
                                          num_attention_heads=32, num_key_value_heads=32, intermediate_size=11008,
                                          vocab_size=32000), "llama"),
    "Llama-3.1-8B (128k BPE, merges)": (dict(model_type="llama", hidden_size=4096, num_hidden_layers=32,
                                             num_attention_heads=32, num_key_value_heads=8, intermediate_size=14336,
                                             vocab_size=128256), "gpt2"),
    "Qwen2.5-72B (152k BPE, merges)": (dict(model_type="qwen2", hidden_size=8192, num_hidden_layers=80,
                                            num_attention_heads=64, num_key_value_heads=8, intermediate_size=29568,
                                            vocab_size=152064), "gpt2"),
    "Qwen3-30B-A3B (152k, 128 experts)": (json.loads((ROOT / "tests/fixtures/models/configs/qwen3-30b-a3b.json")
                                                     .read_text()), "gpt2"),
    "gemma-3-27b (262k SPM, scores)": (dict(model_type="gemma3_text", hidden_size=5376, num_hidden_layers=62,
                                            num_attention_heads=32, num_key_value_heads=16, head_dim=128,
                                            intermediate_size=21504, vocab_size=262208, sliding_window=1024),
                                       "llama"),
}


def _tokens(vocab: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyzĠ▁"
    return ["".join(rng.choice(letters) for _ in range(1 + min(14, i * 12 // vocab) + rng.randint(0, 4)))
            for i in range(vocab)]


def write_case(path: Path, config: dict, tok_model: str) -> int:
    spec = spec_from_config(dict(config, max_position_embeddings=32768, torch_dtype="bfloat16"), "x")
    w, tensors = header_gguf_writer(path, spec, "Q4_K_M")
    rng = random.Random(0)
    toks = _tokens(spec.vocab_size, rng)
    w.add_tokenizer_model(tok_model)
    w.add_token_list(toks)
    if tok_model == "llama":
        w.add_token_scores([-float(i) for i in range(spec.vocab_size)])
    w.add_token_types([1] * spec.vocab_size)
    if tok_model == "gpt2":
        w.add_token_merges([toks[i] + " " + toks[i + 1] for i in range(spec.vocab_size - 300)])
    w.add_bos_token_id(1)
    w.add_chat_template("{% for message in messages %}{{ message['content'] }}{% endfor %}" * 60)
    return finish_sparse_gguf(w, path, tensors)


def serve(directory: Path):
    stats = {"bytes": 0, "requests": 0}

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            p = directory / self.path.lstrip("/")
            size = p.stat().st_size
            a, b = self.headers["Range"][6:].split("-")
            a, b = int(a), min(int(b), size - 1)
            with open(p, "rb") as f:
                f.seek(a)
                body = f.read(b - a + 1)
            stats["bytes"] += len(body)
            stats["requests"] += 1
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {a}-{b}/{size}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, stats


def real_vocab_rows(vocab_dir: Path, srv, stats) -> list[dict]:
    rows = []
    for f in sorted(vocab_dir.glob("ggml-vocab-*.gguf")):
        local = read_gguf(f, max_bytes=64 << 20)
        stats.update(bytes=0, requests=0)
        (srv.root / f.name).symlink_to(f)
        remote = read_gguf(f"http://127.0.0.1:{srv.server_port}/{f.name}", max_bytes=64 << 20)
        strip = {"gguf.header_bytes_read"}  # the one key that must differ
        same = ({k: v for k, v in remote.metadata.items() if k not in strip}
                == {k: v for k, v in local.metadata.items() if k not in strip}) and remote.tensors == local.tensors
        rows.append({"file": f.name, "file_mb": round(f.stat().st_size / 1e6, 2),
                     "vocab": local.metadata.get("tokenizer.ggml.tokens.count"),
                     "transferred_kb": round(stats["bytes"] / 1e3, 1), "requests": stats["requests"],
                     "identical": same})
    return rows


def main() -> None:
    rows = []
    vocab_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else next(
        iter(sorted(Path("/tmp/lcp_src").glob("llama_cpp_python-*/vendor/llama.cpp/models"))), None)
    vocab_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        srv, stats = serve(tmpd)
        srv.root = tmpd
        try:
            if vocab_dir is not None and vocab_dir.is_dir():
                vocab_rows = real_vocab_rows(vocab_dir, srv, stats)
            for name, (cfg, tok) in CASES.items():
                fn = "m.gguf"
                header = write_case(tmpd / fn, cfg, tok)
                stats.update(bytes=0, requests=0)
                t0 = time.time()
                remote = read_gguf(f"http://127.0.0.1:{srv.server_port}/{fn}")
                dt = time.time() - t0
                t1 = time.time()
                local = read_gguf(tmpd / fn)
                dl = time.time() - t1
                assert remote.tensors == local.tensors and remote.weight_bytes == local.weight_bytes
                rows.append({"model": name, "file_gb": round(os.path.getsize(tmpd / fn) / 1e9, 2),
                             "header_mb": round(header / 1e6, 2), "transferred_kb": round(stats["bytes"] / 1e3, 1),
                             "requests": stats["requests"], "remote_s": round(dt, 2), "local_s": round(dl, 2),
                             "params_b": round(remote.params / 1e9, 2)})
                (tmpd / fn).unlink()
        finally:
            srv.shutdown()
    lines = ["| model (Q4_K_M layout) | file GB | header MB | transferred KB | requests | remote s | local s |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['file_gb']} | {r['header_mb']} | {r['transferred_kb']} | {r['requests']} | "
              f"{r['remote_s']} | {r['local_s']} |" for r in rows]
    if vocab_rows:
        lines += ["", "Real llama.cpp tokenizer headers (ggml-vocab-*.gguf, no tensors): remote vs local read", "",
                  "| file | MB | vocab | transferred KB | requests | identical metadata |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['file']} | {r['file_mb']} | {r['vocab']} | {r['transferred_kb']} | {r['requests']} | "
                  f"{r['identical']} |" for r in vocab_rows]
    table = "\n".join(lines)
    print(table)
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "header_transfer.md").write_text("# Remote GGUF header reads (local HTTP server with Range)\n\n" + table + "\n")
    (res / "header_transfer.json").write_text(json.dumps({"synthetic": rows, "real_vocab": vocab_rows}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
