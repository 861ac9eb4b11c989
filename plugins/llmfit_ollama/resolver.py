"""Turn `ollama:NAME[:TAG]` into a ModelSpec: local store, then the local API, then the registry
(or, for `hf.co/org/repo:QUANT` names, the Hugging Face adapter)."""

from __future__ import annotations

import json
import os
from dataclasses import replace

from llmfit_core.errors import (
    AuthRequiredError,
    LlmfitError,
    ModelReadError,
    NotFoundError,
    OfflineError,
    RemoteError,
    ResolveError,
)
from llmfit_core.model_spec import ModelSpec
from llmfit_core.plugins import call_hook
from llmfit_core.readers import gguf as gguf_reader

from . import localapi, registry, store
from .names import OllamaName, parse_name

DEFAULT_CONTEXT = 4096  # Ollama's default num_ctx when neither the model nor OLLAMA_CONTEXT_LENGTH sets one
_CACHE_TYPES = ("f16", "q8_0", "q4_0")


def runtime_defaults(params: dict | None = None) -> dict:
    """The settings an Ollama server would load this model with (they change the memory needed).

    `num_ctx` in the model's params wins over `OLLAMA_CONTEXT_LENGTH`; `OLLAMA_NUM_PARALLEL` multiplies
    the context Ollama asks llama.cpp for (`context` is that total, `context_per_request` one slot's);
    `OLLAMA_KV_CACHE_TYPE` applies only with flash attention on (else Ollama uses f16).
    """
    params = params or {}
    notes = []
    context, ctx_from = DEFAULT_CONTEXT, "ollama default"
    env_ctx = _env_int("OLLAMA_CONTEXT_LENGTH")
    if env_ctx:
        context, ctx_from = env_ctx, "OLLAMA_CONTEXT_LENGTH"
    if isinstance(params.get("num_ctx"), int) and params["num_ctx"] > 0:
        context, ctx_from = params["num_ctx"], "num_ctx in the model's parameters"
    n_seq = _env_int("OLLAMA_NUM_PARALLEL") or 1
    fa_env = os.environ.get("OLLAMA_FLASH_ATTENTION")
    flash = None if fa_env is None else fa_env.strip().lower() in ("1", "true", "yes", "on")
    cache = (os.environ.get("OLLAMA_KV_CACHE_TYPE") or "f16").strip().lower()
    if cache not in _CACHE_TYPES:
        notes.append(f"OLLAMA_KV_CACHE_TYPE={cache!r} is not one Ollama knows; it uses f16")
        cache = "f16"
    if cache != "f16" and not flash:
        notes.append(f"OLLAMA_KV_CACHE_TYPE={cache} needs OLLAMA_FLASH_ATTENTION=1; Ollama uses f16")
        cache = "f16"
    if n_seq > 1:  # Ollama gives each parallel slot its own num_ctx: the llama.cpp context is the product
        notes.append(f"OLLAMA_NUM_PARALLEL={n_seq}: Ollama allocates {n_seq} x {context} tokens of context")
    return {"context": context * n_seq, "context_per_request": context, "context_from": ctx_from, "n_seq": n_seq,
            "cache_type": cache, "flash_attn": flash, "notes": notes}


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise ResolveError(f"{name}={raw!r} is not a whole number") from None
    return value if value > 0 else None


def _parse_params_blob(raw: bytes | None) -> dict:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _parse_params_text(text: str | None) -> dict:
    """The `parameters` string of /api/show ("num_ctx 8192\\nstop ...")."""
    out = {}
    for line in (text or "").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] == "num_ctx":
            try:
                out["num_ctx"] = int(parts[1].strip().strip('"'))
            except ValueError:
                pass
    return out


def read_gguf_file(path, ref: str) -> ModelSpec:
    """GGUF header of a local blob (the readers package; header bytes only)."""
    return gguf_reader.read_gguf(str(path), ref=ref)


def read_gguf_url(url: str, ref: str, size: int | None) -> ModelSpec:
    """GGUF header of a registry blob by Range reads (no auth headers: this is not the Hub)."""
    spec = gguf_reader.read_gguf_url(url, ref=ref, headers={}, max_bytes=registry.MAX_HEADER)
    if size and not spec.file_bytes:
        spec.file_bytes = size
    return spec


def _finish(spec: ModelSpec, name: OllamaName, origin: str, params: dict, manifest: dict | None,
            config: dict | None = None) -> ModelSpec:
    spec.ref = name.ref
    info = {"name": name.short, "origin": origin, "installed": origin not in ("registry", "huggingface")}
    if manifest is not None:
        proj = registry.layer(manifest, "projector")
        if proj is not None:
            info["projector_bytes"] = int(proj["size"])
            spec.notes.append(f"vision projector of {proj['size']} bytes is loaded beside the model")
        info["total_layer_bytes"] = sum(int(x.get("size") or 0) for x in manifest["layers"])
    if config:
        info.update({k: config[k] for k in ("model_family", "model_type", "file_type") if isinstance(config.get(k), str)})
    spec.metadata["ollama"] = info
    defaults = runtime_defaults(params)
    spec.metadata["runtime_defaults"] = defaults
    spec.notes.extend(defaults["notes"])
    return spec


def _from_store(name: OllamaName) -> ModelSpec | None:
    manifest = store.read_local_manifest(name)
    if manifest is None:
        return None
    path, size = store.model_layer_path(manifest, name.short)
    spec = read_gguf_file(path, name.ref)
    spec.file_bytes = spec.file_bytes or size
    params_layer = registry.layer(manifest, "params")
    params = _parse_params_blob(store.read_small_blob(params_layer["digest"])) if params_layer else {}
    config = None
    cfg = manifest.get("config")
    if isinstance(cfg, dict) and cfg.get("digest"):
        try:
            config = _parse_params_blob(store.read_small_blob(cfg["digest"]))
        except ModelReadError:
            config = None
    return _finish(spec, name, "local-store", params, manifest, config)


def _from_api(name: OllamaName) -> ModelSpec | None:
    try:
        shown = localapi.show(name.short)
    except (OfflineError, ImportError):
        return None
    if not shown:
        return None
    info = shown.get("model_info") or shown.get("modelinfo") or {}
    details = shown.get("details") or {}
    arch = str(info.get("general.architecture") or details.get("family") or "unknown")

    def k(key, default=0):
        v = info.get(f"{arch}.{key}", default)
        return int(v) if isinstance(v, (int, float)) else default

    params = int(info.get("general.parameter_count") or 0)
    if not params or not k("block_count"):
        raise ModelReadError(f"ollama:{name.short}: the Ollama server's /api/show lacks parameter count or block count")
    size = None
    try:
        for m in localapi.list_models():
            if m.get("model") in (name.short, name.short.removesuffix(":latest")):
                size = m.get("size")
    except (OfflineError, RemoteError):
        pass
    heads = k("attention.head_count", 1) or 1
    spec = ModelSpec(
        ref=name.ref, arch=arch, params=params, active_params=params, n_layers=k("block_count"),
        hidden_size=k("embedding_length"), n_heads=heads, n_kv_heads=k("attention.head_count_kv", heads) or heads,
        head_dim=k("attention.key_length", k("embedding_length") // heads), vocab_size=k("vocab_size"),
        max_context=k("context_length"), ffn_size=k("feed_forward_length"),
        n_experts=k("expert_count"), n_experts_used=k("expert_used_count"),
        format="gguf", quant=details.get("quantization_level"), file_bytes=size,
        weight_bytes=int(size or 0), source="ollama-api", exact=False,
        notes=["from the Ollama server's /api/show: weight bytes approximated by the model size"],
    )
    rec, rec_notes = gguf_reader.recurrent_fields(arch, info, spec.n_layers, f"ollama:{name.short}")
    if rec or rec_notes:  # hybrid / recurrent models: their state, and only their attention layers' KV
        spec = replace(spec, **rec, notes=spec.notes + rec_notes)
    return _finish(spec, name, "local-api", _parse_params_text(shown.get("parameters")), None)


def _from_registry(name: OllamaName) -> ModelSpec:
    with registry.client() as http:
        manifest = registry.fetch_manifest(http, name)
        item = registry.layer(manifest, "model")
        if item is None:
            raise ModelReadError(f"Ollama manifest for {name.short} has no model layer")
        params_layer = registry.layer(manifest, "params")
        params = _parse_params_blob(registry.fetch_small_blob(http, name, params_layer["digest"])) if params_layer else {}
        config = None
        cfg = manifest.get("config")
        if isinstance(cfg, dict) and isinstance(cfg.get("digest"), str):
            try:
                config = _parse_params_blob(registry.fetch_small_blob(http, name, cfg["digest"]))
            except (ModelReadError, RemoteError):
                config = None
    url = f"{registry.registry_url()}/v2/{name.namespace}/{name.name}/blobs/{item['digest']}"
    spec = read_gguf_url(url, name.ref, int(item["size"]))
    return _finish(spec, name, "registry", params, manifest, config)


def is_installed(name: OllamaName) -> bool:
    """Installed in the local store, or known to the local server."""
    if store.read_local_manifest(name) is not None:
        return True
    try:
        return localapi.show(name.short) is not None
    except (OfflineError, RemoteError, ImportError):
        return False


def resolve_ollama(ref: str, options: dict | None = None) -> ModelSpec:
    """Resolve `ollama:[user/]name[:tag]`; `options["offline"]` skips the registry."""
    options = options or {}
    name = parse_name(ref)
    spec = _from_store(name) or _from_api(name)
    if spec is not None:
        return spec
    if options.get("offline"):
        raise OfflineError(f"ollama:{name.short} is not installed and offline mode is on")
    if name.on_hub:
        return _from_hub(name, options)
    return _from_registry(name)


def _from_hub(name: OllamaName, options: dict) -> ModelSpec:
    """`hf.co/org/repo:QUANT`: Ollama pulls that GGUF from the Hub, so the Hub adapter reads its header.
    Without a quant tag Ollama takes Q4_K_M when the repo has it."""
    repo = f"{name.namespace}/{name.name}"
    opts = {k: v for k, v in options.items() if k in ("offline", "revision")}
    if name.tag != "latest":
        spec = call_hook("llmfit_resolve_model", ref=repo, options=dict(opts, quant=name.tag))
    else:
        try:
            spec = call_hook("llmfit_resolve_model", ref=repo, options=dict(opts, quant="Q4_K_M"))
        except (NotFoundError, AuthRequiredError, OfflineError):
            raise
        except LlmfitError:  # no Q4_K_M file: Ollama then picks another quant, so does the Hub adapter
            spec = None
        if spec is None:
            spec = call_hook("llmfit_resolve_model", ref=repo, options=opts)
    if spec is None:
        raise ResolveError(f"ollama:{name.short}: no source plugin could read {repo} from the Hugging Face Hub")
    return _finish(spec, name, "huggingface", {}, None)
