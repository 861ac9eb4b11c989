"""A fake Ollama server + registry on 127.0.0.1 for tests, serving real GGUF headers of sparse models.

The model blob is a real GGUF header followed by zero tensor data generated on the fly (never held in
memory), with Range support. Every blob byte served is counted, per digest.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter, LlamaFileType

from llmfit_core.tensor_layout import Layout, layout_tensors, tensor_group

MODEL_MT = "application/vnd.ollama.image.model"
PARAMS_MT = "application/vnd.ollama.image.params"
CONFIG_MT = "application/vnd.docker.container.image.v1+json"

# (layers, hidden, heads, kv_heads, ffn, vocab, ctx, matrix type, file type)
SHAPES = {
    "tiny": (2, 256, 4, 2, 512, 512, 2048, GGMLQuantizationType.Q8_0, LlamaFileType.MOSTLY_Q8_0),
    "big": (80, 8192, 64, 8, 28672, 128256, 131072, GGMLQuantizationType.Q4_K, LlamaFileType.MOSTLY_Q4_K_M),
}


def _nbytes(shape, qtype) -> int:
    block, size = GGML_QUANT_SIZES[qtype]
    n = 1
    for d in shape:
        n *= d
    return n // block * size


def build_gguf_header(shape_name: str) -> tuple[bytes, int, dict]:
    """(header bytes incl. alignment padding, total file size, facts) for a llama-shaped sparse model."""
    n_layers, hidden, heads, kv_heads, ffn, vocab, ctx, qtype, ftype = SHAPES[shape_name]
    head_dim = hidden // heads
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.gguf"
        w = GGUFWriter(str(path), "llama")
        w.add_block_count(n_layers)
        w.add_context_length(ctx)
        w.add_embedding_length(hidden)
        w.add_feed_forward_length(ffn)
        w.add_head_count(heads)
        w.add_head_count_kv(kv_heads)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_file_type(int(ftype))
        w.add_tokenizer_model("llama")
        w.add_token_list([f"t{i}" for i in range(vocab)])
        w.add_token_scores([0.0] * vocab)
        lay = Layout(n_layers=n_layers, hidden=hidden, vocab=vocab, n_heads=heads, n_kv_heads=kv_heads,
                     head_dim=head_dim, ffn=ffn)
        # GGUFWriter takes numpy order (outermost first): the reverse of ggml's
        tensors = [(name, tuple(reversed(dims)), GGMLQuantizationType.F32 if tensor_group(name) == "norm" else qtype)
                   for name, dims in layout_tensors(lay)]
        data = 0
        params = 0
        weight = 0
        for name, shp, qt in tensors:
            nb = _nbytes(shp, qt)
            w.add_tensor_info(name, shp, np.dtype(np.float32), nb, raw_dtype=qt)
            data += GGUFWriter.ggml_pad(nb, w.data_alignment)
            params += int(np.prod(shp))
            weight += nb
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        w.close()
        raw = path.read_bytes()
    header = raw + b"\0" * (GGUFWriter.ggml_pad(len(raw), 32) - len(raw))
    facts = {"params": params, "weight_bytes": weight, "n_layers": n_layers, "hidden": hidden,
             "kv_heads": kv_heads, "vocab": vocab, "ctx": ctx, "header_bytes": len(raw)}
    return header, len(header) + data, facts


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Blob:
    head: bytes  # real bytes; the rest up to `size` are zeros
    size: int


@dataclass
class FakeModel:
    namespace: str
    name: str
    tag: str
    shape: str
    manifest: dict
    blobs: dict  # digest -> Blob
    facts: dict
    model_digest: str
    params: dict = field(default_factory=dict)


_HEADERS: dict[str, tuple] = {}


def make_model(name: str, tag: str = "latest", shape: str = "tiny", namespace: str = "library",
               params: dict | None = None) -> FakeModel:
    """A registry model (manifest + config + params + sparse GGUF blob)."""
    if shape not in _HEADERS:
        _HEADERS[shape] = build_gguf_header(shape)
    header, total, facts = _HEADERS[shape]
    model_digest = _digest(header + str(total).encode() + name.encode())
    config = json.dumps({"model_format": "gguf", "model_family": "llama", "model_type": shape,
                         "file_type": "Q4_K_M" if shape == "big" else "Q8_0"}).encode()
    blobs = {model_digest: Blob(header, total), _digest(config): Blob(config, len(config))}
    layers = [{"mediaType": MODEL_MT, "digest": model_digest, "size": total}]
    if params:
        raw = json.dumps(params).encode()
        blobs[_digest(raw)] = Blob(raw, len(raw))
        layers.append({"mediaType": PARAMS_MT, "digest": _digest(raw), "size": len(raw)})
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": CONFIG_MT, "digest": _digest(config), "size": len(config)}, "layers": layers}
    return FakeModel(namespace, name, tag, shape, manifest, blobs, facts, model_digest, params or {})


def install_local(root: Path, model: FakeModel) -> Path:
    """Write the model into an Ollama store at `root` (sparse GGUF blob: real header, holes for data)."""
    mdir = root / "manifests" / "registry.ollama.ai" / model.namespace / model.name
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / model.tag).write_text(json.dumps(model.manifest))
    bdir = root / "blobs"
    bdir.mkdir(parents=True, exist_ok=True)
    for digest, blob in model.blobs.items():
        path = bdir / digest.replace(":", "-")
        with open(path, "wb") as fh:
            fh.write(blob.head)
            fh.truncate(blob.size)
    return mdir / model.tag


class FakeOllama:
    """Serves the Ollama API and the registry from one loopback port. Use as a context manager."""

    def __init__(self):
        self.registry: dict[tuple, FakeModel] = {}
        self.installed: dict[str, FakeModel] = {}  # "name:tag" -> model (as the API reports)
        self.blob_bytes: dict[str, int] = {}
        self.pulls: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.truncate_manifest: set[str] = set()
        self.loaded: list[dict] = []  # what /api/ps reports: {"name", "model", "size", "size_vram", ...}
        # the counters /api/generate's final answer carries (durations in ns), for installed models
        self.generate_stats = {"prompt_eval_count": 80, "prompt_eval_duration": 400_000_000,
                               "eval_count": 64, "eval_duration": 3_200_000_000}
        self.ignore_range = False
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = None

    def add(self, model: FakeModel, installed: bool = False) -> FakeModel:
        self.registry[(model.namespace, model.name, model.tag)] = model
        if installed:
            self.installed[self._short(model)] = model
        return model

    @staticmethod
    def _short(m: FakeModel) -> str:
        return (m.name if m.namespace == "library" else f"{m.namespace}/{m.name}") + f":{m.tag}"

    def model_bytes_served(self) -> int:
        return sum(n for d, n in self.blob_bytes.items() if any(d == m.model_digest for m in self.registry.values()))

    def __enter__(self):
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _find(self, model: str) -> FakeModel | None:
        if ":" not in model.rsplit("/", 1)[-1]:
            model += ":latest"
        return self.installed.get(model)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _json(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    return json.loads(self.rfile.read(n) or b"{}")
                except ValueError:
                    return {}

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                fake.requests.append((self.command, self.path))
                if self.path == "/api/tags":
                    return self._json(200, {"models": [self._tag_entry(k, m) for k, m in fake.installed.items()]})
                if self.path == "/api/ps":
                    return self._json(200, {"models": fake.loaded})
                if self.path == "/api/version":
                    return self._json(200, {"version": "0.0.0-fake"})
                m = re.match(r"^/v2/([^/]+)/([^/]+)/(manifests|blobs)/([^/?]+)$", self.path)
                if not m:
                    return self._json(404, {"error": "not found"})
                ns, name, kind, ref = m.groups()
                if kind == "manifests":
                    model = fake.registry.get((ns, name, ref))
                    if model is None:
                        return self._json(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]})
                    body = json.dumps(model.manifest).encode()
                    if f"{name}:{ref}" in fake.truncate_manifest:
                        body = body[: len(body) // 2]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                    return
                blob = None
                for model in fake.registry.values():
                    if (model.namespace, model.name) == (ns, name) and ref in model.blobs:
                        blob = model.blobs[ref]
                if blob is None:
                    return self._json(404, {"errors": [{"code": "BLOB_UNKNOWN"}]})
                self._serve_blob(ref, blob)

            def _serve_blob(self, digest, blob):
                start, end = 0, blob.size - 1
                rng = self.headers.get("Range")
                m = re.match(r"^bytes=(\d+)-(\d*)$", rng or "")
                partial = bool(m) and not fake.ignore_range
                if partial:
                    start = int(m.group(1))
                    end = min(int(m.group(2)) if m.group(2) else blob.size - 1, blob.size - 1)
                    if start >= blob.size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{blob.size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                self.send_response(206 if partial else 200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Accept-Ranges", "bytes")
                if partial:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{blob.size}")
                self.send_header("Content-Length", str(end - start + 1))
                self.end_headers()
                if self.command == "HEAD":
                    return
                pos = start
                try:
                    while pos <= end:
                        n = min(65536, end - pos + 1)
                        if pos < len(blob.head):
                            chunk = blob.head[pos : pos + n]
                        else:
                            chunk = bytes(n)
                        self.wfile.write(chunk)
                        with fake._lock:
                            fake.blob_bytes[digest] = fake.blob_bytes.get(digest, 0) + len(chunk)
                        pos += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _tag_entry(self, key, m):
                total = sum(x["size"] for x in m.manifest["layers"])
                return {"name": key, "model": key, "modified_at": "2026-01-01T00:00:00Z", "size": total,
                        "digest": m.model_digest.split(":")[1],
                        "details": {"format": "gguf", "family": "llama", "parameter_size": m.shape,
                                    "quantization_level": "Q4_K_M" if m.shape == "big" else "Q8_0"}}

            def do_POST(self):
                fake.requests.append((self.command, self.path))
                body = self._body()
                model_name = str(body.get("model") or body.get("name") or "")
                if self.path == "/api/show":
                    m = fake._find(model_name)
                    if m is None:
                        return self._json(404, {"error": f"model '{model_name}' not found"})
                    f = m.facts
                    info = {"general.architecture": "llama", "general.parameter_count": f["params"],
                            "llama.block_count": f["n_layers"], "llama.context_length": f["ctx"],
                            "llama.embedding_length": f["hidden"], "llama.attention.head_count": SHAPES[m.shape][2],
                            "llama.attention.head_count_kv": f["kv_heads"], "llama.vocab_size": f["vocab"],
                            "llama.feed_forward_length": SHAPES[m.shape][4]}
                    params = "\n".join(f"{k:<30} {v}" for k, v in m.params.items())
                    return self._json(200, {"modelfile": "", "parameters": params, "template": "",
                                            "details": self._tag_entry("", m)["details"], "model_info": info})
                if self.path == "/api/generate":
                    if fake._find(model_name) is None:
                        return self._json(404, {"error": f"model '{model_name}' not found"})
                    return self._json(200, {"model": model_name, "response": "...", "done": True, **fake.generate_stats})
                if self.path == "/api/pull":
                    key = model_name if ":" in model_name.rsplit("/", 1)[-1] else model_name + ":latest"
                    ns, _, rest = key.rpartition("/")
                    name, tag = rest.split(":", 1)
                    m = fake.registry.get((ns or "library", name, tag))
                    if m is None:
                        return self._json(404, {"error": "pull model manifest: file does not exist"})
                    fake.pulls.append(key)
                    lines = [{"status": "pulling manifest"}]
                    for layer in m.manifest["layers"]:
                        lines.append({"status": f"pulling {layer['digest'][7:19]}", "digest": layer["digest"],
                                      "total": layer["size"], "completed": layer["size"]})
                    lines += [{"status": "verifying sha256 digest"}, {"status": "success"}]
                    fake.installed[key] = m
                    data = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                return self._json(404, {"error": "not found"})

        return Handler


def fake_env(fake: FakeOllama, models_dir: Path) -> dict:
    """Environment variables that point llmfit (and the ollama client) at the fake."""
    return {"OLLAMA_HOST": fake.url, "LLMFIT_OLLAMA_REGISTRY": fake.url, "OLLAMA_MODELS": str(models_dir)}


def dead_host() -> str:
    """A loopback URL nothing listens on."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


