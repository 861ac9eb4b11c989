"""A fake Hugging Face Hub on 127.0.0.1 for tests (real `huggingface_hub` client, real `hf` CLI).

It speaks what huggingface_hub 2.4 calls:
- `GET /api/models` (list_models: `search`, `author`, `limit`, `expand`),
- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}` (`?blobs=true` adds sizes/LFS),
- `GET /api/models/{repo}/tree/{rev}[/{path}]` (list_repo_tree, snapshot_download, HfFileSystem.ls/find),
- `POST /api/models/{repo}/paths-info/{rev}` (get_paths_info, HfFileSystem.info: form or JSON `paths`),
- `HEAD|GET /{repo}/resolve/{rev}/{file}` with X-Repo-Commit, ETag, X-Linked-Size/X-Linked-Etag for
  LFS files, Content-Length, and `Range` (206) on GET,
- 401 `GatedRepo` for files of a gated repo without the right token, 404 `RepoNotFound` /
  `EntryNotFound` / `RevisionNotFound`.

Files are a real header (GGUF built with gguf's GGUFWriter, safetensors JSON header) followed by
zeros generated on the fly: a repo can declare a 100 GB GGUF without holding it in memory.
Every byte written is counted per file (`hub.bytes_served[(repo, file)]`), so a test can assert that
a check read only the header.

Use it through the `fake_hub` fixture (tests/conftest.py) or directly::

    with FakeHub() as hub:
        hub.add_gguf_repo("org/big-GGUF", {"big-Q4_K_M.gguf": llama_gguf(n_layers=80, ...)})
        os.environ["HF_ENDPOINT"] = hub.url
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from llmfit_core.tensor_layout import Layout, layout_tensors, n_params, tensor_group

CHUNK = 1 << 16


# --------------------------------------------------------------------------------------------
# file contents
# --------------------------------------------------------------------------------------------


@dataclass
class FakeFile:
    """A repo file: `head` real bytes, then zeros up to `size`."""

    path: str
    size: int
    head: bytes = b""
    lfs: bool = True

    def __post_init__(self):
        if len(self.head) > self.size:
            raise ValueError(f"{self.path}: header longer than the declared size")
        # Stable fake identities (a real hub would hash the content; hashing 100 GB of zeros is pointless).
        self.sha256 = hashlib.sha256(self.path.encode() + self.head + str(self.size).encode()).hexdigest()
        self.oid = hashlib.sha1(b"blob " + self.sha256.encode()).hexdigest()

    def chunks(self, start: int, end: int):
        """Yield bytes [start, end) without materialising the zeros."""
        pos = start
        while pos < end:
            n = min(CHUNK, end - pos)
            if pos < len(self.head):
                piece = self.head[pos : min(end, len(self.head), pos + n)]
            else:
                piece = bytes(n)
            yield piece
            pos += len(piece)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        """Small reads for tests (never the whole of a large file)."""
        end = self.size if end is None else end
        if end - start > 64 << 20:
            raise ValueError("refusing to materialise more than 64 MiB")
        return b"".join(self.chunks(start, end))


def text_file(path: str, text: str | bytes) -> FakeFile:
    data = text.encode() if isinstance(text, str) else text
    return FakeFile(path, len(data), data, lfs=False)


def json_file(path: str, obj) -> FakeFile:
    return text_file(path, json.dumps(obj, indent=1))


# -- GGUF ------------------------------------------------------------------------------------

# tensor -> ggml type name of llama.cpp's Q4_K_M mix (simplified: half the ffn_down/attn_v are Q6_K)
_QUANT_MIX = {
    "Q4_K_M": {"default": "Q4_K", "attn_v": "Q6_K", "ffn_down": "Q6_K", "output": "Q6_K", "token_embd": "Q4_K"},
    "Q8_0": {"default": "Q8_0"},
    "Q6_K": {"default": "Q6_K"},
    "Q5_K_M": {"default": "Q5_K", "attn_v": "Q6_K", "ffn_down": "Q6_K", "output": "Q6_K"},
    "Q4_0": {"default": "Q4_0", "output": "Q6_K"},
    "Q2_K": {"default": "Q2_K", "attn_v": "Q4_K", "output": "Q6_K"},
    "F16": {"default": "F16"},
}
_FILE_TYPE = {"Q4_K_M": "MOSTLY_Q4_K_M", "Q8_0": "MOSTLY_Q8_0", "Q6_K": "MOSTLY_Q6_K", "Q5_K_M": "MOSTLY_Q5_K_M",
              "Q4_0": "MOSTLY_Q4_0", "Q2_K": "MOSTLY_Q2_K", "F16": "MOSTLY_F16"}


@dataclass
class GGUFShape:
    """A llama-style model shape for a synthetic GGUF header."""

    arch: str = "llama"
    n_layers: int = 4
    hidden: int = 256
    ffn: int = 512
    n_heads: int = 4
    n_kv_heads: int = 2
    vocab: int = 1024
    context: int = 4096
    quant: str = "Q4_K_M"
    name: str = "fake"
    tied: bool = False


def _tensor_list(s: GGUFShape):
    """(name, shape in ggml order (ne0 first), mix key) of a llama-style model, as llmfit_core.tensor_layout lays it."""
    lay = Layout(n_layers=s.n_layers, hidden=s.hidden, vocab=s.vocab, n_heads=s.n_heads, n_kv_heads=s.n_kv_heads,
                 head_dim=s.hidden // s.n_heads, ffn=s.ffn, tied=s.tied)
    return [(name, dims, "norm" if tensor_group(name) == "norm" else name.split(".")[-2 if name.startswith("blk.") else 0])
            for name, dims in layout_tensors(lay)]


def gguf_files(path: str, shape: GGUFShape, n_shards: int = 1) -> list[FakeFile]:
    """Real GGUF header(s) for `shape` (gguf.GGUFWriter), tensor data as zeros.

    With `n_shards > 1` the files are named like llama.cpp's gguf-split output
    (`name-00001-of-0000N.gguf`) and carry the `split.*` keys.
    """
    import gguf
    import numpy as np

    mix = _QUANT_MIX[shape.quant]
    tensors = _tensor_list(shape)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.gguf"
        per_shard = -(-len(tensors) // n_shards)
        w = gguf.GGUFWriter(out, shape.arch, split_max_tensors=per_shard if n_shards > 1 else 0)
        w.add_name(shape.name)
        w.add_context_length(shape.context)
        w.add_embedding_length(shape.hidden)
        w.add_block_count(shape.n_layers)
        w.add_feed_forward_length(shape.ffn)
        w.add_head_count(shape.n_heads)
        w.add_head_count_kv(shape.n_kv_heads)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_rope_freq_base(10000.0)
        w.add_file_type(int(getattr(gguf.LlamaFileType, _FILE_TYPE[shape.quant])))
        w.add_tokenizer_model("llama")
        w.add_token_list([f"t{i}" for i in range(shape.vocab)])
        w.add_token_scores([0.0] * shape.vocab)
        w.add_token_types([1] * shape.vocab)
        for name, dims, group in tensors:
            tname = "F32" if group == "norm" else mix.get(group, mix["default"])
            qtype = gguf.GGMLQuantizationType[tname]
            block, tsize = gguf.GGML_QUANT_SIZES[qtype]
            n = 1
            for d in dims:
                n *= d
            if n % block:
                raise ValueError(f"{name}: {n} elements not a multiple of block {block} for {tname}")
            nbytes = n // block * tsize
            # GGUFWriter reverses the numpy-order shape when writing: give it numpy order.
            w.add_tensor_info(name, tuple(reversed(dims)), np.float32, nbytes, raw_dtype=qtype)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        w.close()
        names = w.format_shard_names(out)
        result = []
        stem = Path(path).name
        if stem.endswith(".gguf"):
            stem = stem[: -len(".gguf")]
        parent = str(Path(path).parent) if "/" in path else ""
        for i, (fname, shard_tensors) in enumerate(zip(names, w.tensors)):
            head = Path(fname).read_bytes()
            head += bytes(-len(head) % w.data_alignment)
            data = sum(-(-ti.nbytes // w.data_alignment) * w.data_alignment for ti in shard_tensors.values())
            if n_shards > 1:
                rel = f"{stem}-{i + 1:05d}-of-{n_shards:05d}.gguf"
            else:
                rel = f"{stem}.gguf"
            rel = f"{parent}/{rel}" if parent else rel
            result.append(FakeFile(rel, len(head) + data, head))
    return result


def gguf_params(shape: GGUFShape) -> int:
    """Parameter count of the synthetic model (what the Hub's `gguf.total` would say)."""
    return n_params(_tensor_list(shape))


# -- safetensors ---------------------------------------------------------------------------

_ST_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "U32": 4, "I32": 4, "U8": 1, "I8": 1}


def safetensors_file(path: str, tensors: dict[str, tuple[str, tuple[int, ...]]]) -> FakeFile:
    """A safetensors file: real header (8-byte length + JSON), zero data. tensors: name -> (dtype, shape)."""
    header, off = {}, 0
    for name, (dtype, shp) in tensors.items():
        n = _ST_BYTES[dtype]
        for d in shp:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shp), "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    head = struct.pack("<Q", len(raw)) + raw
    return FakeFile(path, len(head) + off, head)


def llama_config(hidden=256, n_layers=4, n_heads=4, n_kv_heads=2, ffn=512, vocab=1024, context=4096, **extra) -> dict:
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "num_hidden_layers": n_layers,
        "num_attention_heads": n_heads,
        "num_key_value_heads": n_kv_heads,
        "vocab_size": vocab,
        "max_position_embeddings": context,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    }
    cfg.update(extra)
    return cfg


def llama_safetensors(cfg: dict, dtype: str = "BF16", n_shards: int = 1, mlx_bits: int | None = None,
                      group_size: int = 64) -> list[FakeFile]:
    """safetensors shards (+ index when sharded) of a llama config. `mlx_bits`: MLX affine-quantized layout."""
    h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = h // cfg["num_attention_heads"]
    kv = hd * cfg["num_key_value_heads"]

    def lin(name, out_f, in_f):
        if mlx_bits is None:
            return {name + ".weight": (dtype, (out_f, in_f))}
        return {
            name + ".weight": ("U32", (out_f, in_f * mlx_bits // 32)),
            name + ".scales": (dtype, (out_f, in_f // group_size)),
            name + ".biases": (dtype, (out_f, in_f // group_size)),
        }

    tensors: dict = {}
    tensors.update(lin("model.embed_tokens", v, h))
    layers = []
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t = {}
        t.update(lin(p + "self_attn.q_proj", h, h))
        t.update(lin(p + "self_attn.k_proj", kv, h))
        t.update(lin(p + "self_attn.v_proj", kv, h))
        t.update(lin(p + "self_attn.o_proj", h, h))
        t.update(lin(p + "mlp.gate_proj", f, h))
        t.update(lin(p + "mlp.up_proj", f, h))
        t.update(lin(p + "mlp.down_proj", h, f))
        t[p + "input_layernorm.weight"] = (dtype, (h,))
        t[p + "post_attention_layernorm.weight"] = (dtype, (h,))
        layers.append(t)
    tail = {"model.norm.weight": (dtype, (h,))}
    if not cfg.get("tie_word_embeddings"):
        tail.update(lin("lm_head", v, h))
    if n_shards == 1:
        for t in layers:
            tensors.update(t)
        tensors.update(tail)
        return [safetensors_file("model.safetensors", tensors)]
    groups = [dict(tensors)] + [{} for _ in range(n_shards - 1)]
    for i, t in enumerate(layers):
        groups[min(n_shards - 1, i * n_shards // len(layers))].update(t)
    groups[-1].update(tail)
    files, weight_map, total = [], {}, 0
    for i, g in enumerate(groups):
        name = f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        ff = safetensors_file(name, g)
        files.append(ff)
        total += ff.size
        weight_map.update({k: name for k in g})
    files.append(json_file("model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map}))
    return files


# --------------------------------------------------------------------------------------------
# repos and the server
# --------------------------------------------------------------------------------------------


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, FakeFile] = field(default_factory=dict)
    gated: bool = False
    tags: list[str] = field(default_factory=list)
    library_name: str | None = None
    pipeline_tag: str | None = "text-generation"
    downloads: int = 0
    likes: int = 0
    gguf: dict | None = None  # the Hub's `gguf` expansion ({"total": params, "architecture": ..., "context_length": ...})
    safetensors: dict | None = None  # the Hub's `safetensors` expansion ({"parameters": {"BF16": n}, "total": n})
    config: dict | None = None  # the Hub's `config` expansion (a subset of config.json)

    def __post_init__(self):
        self.sha = hashlib.sha1(self.repo_id.encode()).hexdigest()

    def add(self, *files: FakeFile) -> "FakeRepo":
        for f in files:
            self.files[f.path] = f
        return self

    def siblings(self, blobs: bool) -> list[dict]:
        out = []
        for f in sorted(self.files.values(), key=lambda f: f.path):
            s = {"rfilename": f.path}
            if blobs:
                s["size"] = f.size
                s["blobId"] = f.oid
                if f.lfs:
                    s["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 134}
            out.append(s)
        return out

    def info(self, blobs: bool = False, expand: list[str] | None = None) -> dict:
        full = {
            "_id": self.sha[:24],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": self.repo_id.split("/")[0],
            "sha": self.sha,
            "lastModified": "2025-01-01T00:00:00.000Z",
            "createdAt": "2025-01-01T00:00:00.000Z",
            "private": False,
            "gated": "manual" if self.gated else False,
            "disabled": False,
            "downloads": self.downloads,
            "likes": self.likes,
            "tags": list(self.tags),
            "library_name": self.library_name,
            "pipeline_tag": self.pipeline_tag,
            "siblings": self.siblings(blobs),
            "usedStorage": sum(f.size for f in self.files.values()),
        }
        for k in ("gguf", "safetensors", "config"):
            if getattr(self, k) is not None:
                full[k] = getattr(self, k)
        if expand:
            return {"_id": full["_id"], "id": full["id"], **{k: full[k] for k in expand if k in full}}
        return full


class FakeHub:
    """The server. `start()` returns the endpoint URL; `stop()` shuts it down (or use `with`)."""

    def __init__(self, token: str = "hf_fake_valid_token"):
        self.repos: dict[str, FakeRepo] = {}
        self.token = token
        self.bytes_served: Counter = Counter()  # (repo_id, path) -> body bytes written
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.ignore_range = False  # behave like a server that ignores Range (sends the whole file)
        # a safety net: one response never carries more than this, so a test whose check fails to stop a
        # download of a declared 40 GB file gets a cut-off transfer (an error), not a full disk
        self.max_response_bytes = 256 << 20
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self.url = ""

    # -- repo helpers
    def add_repo(self, repo_id: str, files=(), **kw) -> FakeRepo:
        repo = FakeRepo(repo_id, **kw)
        repo.add(*files)
        self.repos[repo_id] = repo
        return repo

    def add_gguf_repo(self, repo_id: str, shapes: dict[str, GGUFShape], shards: dict[str, int] | None = None,
                      **kw) -> FakeRepo:
        """A GGUF repo: `shapes` maps a file name (e.g. `m-Q4_K_M.gguf`) to the model shape."""
        shards = shards or {}
        files = [text_file("README.md", f"# {repo_id}\n"), text_file(".gitattributes", "*.gguf filter=lfs\n")]
        first = next(iter(shapes.values()))
        for name, shape in shapes.items():
            files += gguf_files(name, shape, shards.get(name, 1))
        kw.setdefault("gguf", {"total": gguf_params(first), "architecture": first.arch,
                               "context_length": first.context})
        kw.setdefault("tags", ["gguf", first.arch])
        kw.setdefault("library_name", "gguf")
        return self.add_repo(repo_id, files, **kw)

    def add_safetensors_repo(self, repo_id: str, cfg: dict, dtype: str = "BF16", n_shards: int = 1,
                             mlx_bits: int | None = None, group_size: int = 64, **kw) -> FakeRepo:
        """A transformers (or, with `mlx_bits`, an mlx-community style) safetensors repo."""
        cfg = dict(cfg)
        if mlx_bits is not None:
            cfg["quantization"] = {"group_size": group_size, "bits": mlx_bits}
        st = llama_safetensors(cfg, dtype, n_shards, mlx_bits, group_size)
        files = [json_file("config.json", cfg), text_file("README.md", f"# {repo_id}\n"),
                 json_file("tokenizer_config.json", {"model_max_length": cfg.get("max_position_embeddings")}), *st]
        params: Counter = Counter()
        for f in st:
            if f.path.endswith(".safetensors"):
                (n,) = struct.unpack("<Q", f.head[:8])
                for name, t in json.loads(f.head[8 : 8 + n]).items():
                    if name != "__metadata__":
                        k = 1
                        for d in t["shape"]:
                            k *= d
                        params[t["dtype"]] += k
        kw.setdefault("safetensors", {"parameters": dict(params), "total": sum(params.values())})
        kw.setdefault("config", {"architectures": cfg.get("architectures"), "model_type": cfg.get("model_type"),
                                 **({"quantization_config": cfg["quantization"]} if mlx_bits else {})})
        kw.setdefault("tags", ["safetensors", cfg.get("model_type", ""), *(["mlx"] if mlx_bits else [])])
        kw.setdefault("library_name", "mlx" if mlx_bits else "transformers")
        return self.add_repo(repo_id, files, **kw)

    def served(self, repo_id: str, path: str | None = None) -> int:
        """Body bytes served for one file, or for all files of a repo."""
        with self._lock:
            if path is not None:
                return self.bytes_served[(repo_id, path)]
            return sum(v for (r, _), v in self.bytes_served.items() if r == repo_id)

    def reset_counts(self) -> None:
        with self._lock:
            self.bytes_served.clear()
            self.requests.clear()

    # -- lifecycle
    def start(self) -> str:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fakehub", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def env(self, hf_home: str | os.PathLike) -> dict:
        """Environment for a subprocess (`hf`, `llmfit`) talking to this hub."""
        env = dict(os.environ)
        env.update({
            "HF_ENDPOINT": self.url,
            "HF_HOME": str(hf_home),
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_ETAG_TIMEOUT": "10",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        env.pop("HF_TOKEN", None)
        env.pop("HF_HUB_OFFLINE", None)
        return env


_MODEL_RE = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/(revision|tree)/([^/]+)(?:/(.*))?)?$")
_PATHS_INFO_RE = re.compile(r"^/api/models/([^/]+/[^/]+)/paths-info/([^/]+)$")
_RESOLVE_RE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub

    def log_message(self, *args):  # quiet
        pass

    # -- helpers
    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status=200, headers=None):
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, status: int, code: str, message: str):
        self._json({"error": message}, status, {"X-Error-Code": code, "X-Error-Message": message})

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.hub.token}"

    def _repo(self, repo_id: str, rev: str | None):
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        if rev is not None and unquote(rev) not in ("main", repo.sha):
            self._error(404, "RevisionNotFound", "Invalid rev id: " + unquote(rev))
            return None
        return repo

    # -- routes
    def do_HEAD(self):
        self._route()

    def do_GET(self):
        self._route()

    def do_POST(self):
        url = urlsplit(self.path)
        path = unquote(url.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.hub._lock:
            self.hub.requests.append((self.command, path, self.headers.get("Range")))
        try:
            m = _PATHS_INFO_RE.match(path)
            if not m:
                return self._error(404, "NotFound", "Not found")
            repo = self._repo(*m.groups())
            if repo is None:
                return
            if "json" in self.headers.get("Content-Type", ""):
                paths = json.loads(body or b"{}").get("paths") or []
            else:
                paths = parse_qs(body.decode()).get("paths", [])
            self._paths_info(repo, [paths] if isinstance(paths, str) else paths)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _route(self):
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        with self.hub._lock:
            self.hub.requests.append((self.command, path, self.headers.get("Range")))
        try:
            if path == "/api/models":
                return self._list_models(query)
            m = _MODEL_RE.match(path)
            if m:
                repo_id, kind, rev, sub = m.groups()
                repo = self._repo(repo_id, rev)
                if repo is None:
                    return
                if kind == "tree":
                    return self._tree(repo, sub or "", query)
                expand = query.get("expand")
                return self._json(repo.info(blobs=query.get("blobs", [""])[0].lower() == "true", expand=expand))
            m = _RESOLVE_RE.match(path)
            if m:
                return self._resolve(*m.groups())
            self._error(404, "NotFound", "Not found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _list_models(self, query):
        search = (query.get("search") or [""])[0].lower()
        author = (query.get("author") or [None])[0]
        limit = int((query.get("limit") or ["1000"])[0])
        expand = query.get("expand")
        out = []
        for repo in self.hub.repos.values():
            if search and search not in repo.repo_id.lower():
                continue
            if author and repo.repo_id.split("/")[0] != author:
                continue
            out.append(repo.info(blobs=False, expand=expand))
        out.sort(key=lambda d: -self.hub.repos[d["id"]].downloads)
        self._json(out[:limit])

    def _paths_info(self, repo: FakeRepo, paths: list[str]):
        """One entry per existing path (file or folder), unknown paths left out, as the Hub does."""
        out = []
        for p in paths:
            p = p.strip("/")
            f = repo.files.get(p)
            if f is not None:
                e = {"type": "file", "oid": f.oid, "size": f.size, "path": f.path}
                if f.lfs:
                    e["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
                out.append(e)
            elif p and any(name.startswith(p + "/") for name in repo.files):
                out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": p})
        self._json(out)

    def _tree(self, repo: FakeRepo, sub: str, query):
        recursive = (query.get("recursive") or ["false"])[0].lower() == "true"
        prefix = sub.strip("/") + "/" if sub.strip("/") else ""
        entries, folders = [], set()
        for f in sorted(repo.files.values(), key=lambda f: f.path):
            if not f.path.startswith(prefix):
                continue
            rest = f.path[len(prefix):]
            if "/" in rest and not recursive:
                folders.add(prefix + rest.split("/")[0])
                continue
            e = {"type": "file", "oid": f.oid, "size": f.size, "path": f.path}
            if f.lfs:
                e["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            entries.append(e)
        if recursive:
            for f in repo.files.values():
                parts = f.path[len(prefix):].split("/")[:-1] if f.path.startswith(prefix) else []
                for i in range(len(parts)):
                    folders.add(prefix + "/".join(parts[: i + 1]))
        entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": p} for p in sorted(folders)]
        if prefix and not entries:
            return self._error(404, "EntryNotFound", f"{sub} does not exist on \"main\"")
        self._json(entries)

    def _resolve(self, repo_id: str, rev: str, fpath: str):
        repo = self._repo(repo_id, rev)
        if repo is None:
            return
        if repo.gated and not self._authorized():
            return self._error(
                401, "GatedRepo",
                f"Access to model {repo_id} is restricted. You must have access to it and be authenticated to access it. Please log in.",
            )
        f = repo.files.get(fpath)
        if f is None:
            return self._error(404, "EntryNotFound", f"{fpath} does not exist on \"main\"")
        headers = {
            "X-Repo-Commit": repo.sha,
            "ETag": f'"{f.sha256 if f.lfs else f.oid}"',
            "Accept-Ranges": "bytes",
        }
        if f.lfs:
            headers["X-Linked-Size"] = str(f.size)
            headers["X-Linked-Etag"] = f'"{f.sha256}"'
        start, end, status = 0, f.size, 200
        rng = self.headers.get("Range")
        if rng and not self.hub.ignore_range:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                return self._send(416, b"", {"Content-Range": f"bytes */{f.size}"})
            if m.group(1):
                start = int(m.group(1))
                end = min(f.size, int(m.group(2)) + 1) if m.group(2) else f.size
            else:  # suffix range
                start = max(0, f.size - int(m.group(2)))
            if start >= f.size:
                return self._send(416, b"", {"Content-Range": f"bytes */{f.size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        key = (repo_id, fpath)
        sent = 0
        try:
            for piece in f.chunks(start, end):
                if sent >= self.hub.max_response_bytes:  # see FakeHub.max_response_bytes
                    self.close_connection = True
                    return
                self.wfile.write(piece)
                sent += len(piece)
                with self.hub._lock:
                    self.hub.bytes_served[key] += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
