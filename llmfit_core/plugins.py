"""The plugin manager: loads entry points in group `llmfit` (built-ins included) and guards hook calls.

A plugin that raises is reported once (which plugin, which hook) and unregistered for the rest of
the run; the command keeps working with the others.
`LLMFIT_PLUGINS` (comma-separated allow-list) and `LLMFIT_DISABLE_PLUGINS` (deny-list) filter by
entry-point name.

Adapter convention: a plugin module may define `runner_status() -> tuple[bool, str]` saying whether
the program or library it adapts (huggingface_hub, llama-cpp-python, mlx-lm, ollama) is usable here,
and a one-line message (version, or how to install it). `llmfit plugins` shows it; it must not raise
and must not touch the network.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from llmfit_core import hookspecs
from llmfit_core.errors import LlmfitError

ENTRY_POINT_GROUP = "llmfit"

pm = pluggy.PluginManager("llmfit")
pm.add_hookspecs(hookspecs)

_loaded = False
_loading = False  # load_plugins is importing the entry points
_after_loading: list = []  # callbacks waiting for load_plugins to finish (see after_loading)
# plugin name -> "loaded" | "disabled by environment" | "failed to load: ..." | "error in <hook>: ..."
status: dict[str, str] = {}
_origin: dict[str, str] = {}  # plugin name -> "registered in process" (entry points: see _origin_text)
_entry_points: dict[str, metadata.EntryPoint] = {}  # plugin name -> the entry point it was loaded from
_reported: set[str] = set()


@dataclass
class PluginInfo:
    """One plugin as `llmfit plugins` shows it."""

    name: str
    status: str
    origin: str = ""
    hooks: list[str] = field(default_factory=list)
    runner_ok: bool | None = None  # None: the plugin does not say
    runner_message: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "origin": self.origin,
            "hooks": list(self.hooks),
            "runner_installed": self.runner_ok,
            "runner": self.runner_message,
        }


def _names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def load_plugins() -> pluggy.PluginManager:
    """Register every `llmfit` entry point once (respecting the allow/deny env vars)."""
    global _loaded, _loading
    if _loaded:
        return pm
    _loaded = _loading = True
    try:
        _load_entry_points()
    finally:
        _loading = False
    while _after_loading:
        _after_loading.pop(0)()
    return pm


def after_loading(callback) -> None:
    """Run `callback()` now, or once `load_plugins` has registered every plugin when it is loading them (a plugin's
    import-time code that calls hooks must not see only the plugins registered before it)."""
    if _loading:
        _after_loading.append(callback)
    else:
        callback()


def _load_entry_points() -> None:
    allow = _names("LLMFIT_PLUGINS")
    deny = _names("LLMFIT_DISABLE_PLUGINS") or set()
    seen = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add(ep.name)
        _entry_points[ep.name] = ep
        if (allow is not None and ep.name not in allow) or ep.name in deny:
            status[ep.name] = "disabled by environment"
            continue
        try:
            mod = ep.load()
        except Exception as exc:  # a broken plugin must not break llmfit
            status[ep.name] = f"failed to load: {type(exc).__name__}: {exc}"
            _report(ep.name, f"plugin {ep.name!r} failed to load ({type(exc).__name__}: {exc}); skipped")
            continue
        try:
            if pm.get_plugin(ep.name) is None and not pm.is_registered(mod):
                pm.register(mod, name=ep.name)
        except Exception as exc:  # e.g. a hookimpl with unknown arguments (pluggy validation)
            status[ep.name] = f"failed to register: {type(exc).__name__}: {exc}"
            _report(ep.name, f"plugin {ep.name!r} could not be registered ({exc}); skipped")
            continue
        status[ep.name] = "loaded"
    for name in sorted((allow or set()) | deny):
        if name not in seen:  # a typo in the env var would otherwise silently change nothing
            _report(f"env:{name}", f"no plugin named {name!r} (LLMFIT_PLUGINS / LLMFIT_DISABLE_PLUGINS); "
                                   f"installed: {', '.join(sorted(seen)) or 'none'}")


def register_plugin(plugin, name: str) -> None:
    """Register an object or module with hook implementations in this process (tests, embedding apps)."""
    load_plugins()
    pm.register(plugin, name=name)
    status[name] = "loaded"
    _origin[name] = "registered in process"


def unregister_plugin(name: str) -> None:
    """Undo `register_plugin` (or unblock a plugin that was disabled after raising)."""
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin, name=name)
    elif pm.is_blocked(name):
        pm.unblock(name)
    status.pop(name, None)
    _origin.pop(name, None)
    _entry_points.pop(name, None)
    _reported.discard(name)


def _report(key: str, message: str) -> None:
    if key not in _reported:
        _reported.add(key)
        print(f"llmfit: warning: {message}", file=sys.stderr)


def call_hook(hook_name: str, **kwargs):
    """Call a hook, one implementation at a time, so one failing plugin is reported and skipped.

    Returns the first non-None result for firstresult hooks, else the list of non-None results.
    An LlmfitError raised by a plugin is an explained answer (404, gated repo, ...) and propagates;
    any other exception disables that plugin for the run, with one warning line naming plugin and hook.
    """
    load_plugins()
    caller = getattr(pm.hook, hook_name)
    firstresult = caller.spec.opts.get("firstresult", False) if caller.spec else False
    results = []
    # pluggy calls the last registered first; keep that order.
    for impl in reversed(caller.get_hookimpls()):
        name = pm.get_name(impl.plugin) or repr(impl.plugin)
        if pm.is_blocked(name):
            continue
        args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
        try:
            res = impl.function(**args)
        except Exception as exc:
            if isinstance(exc, LlmfitError):
                raise  # an explained failure (404, gated repo, bad header) is the answer, not a plugin bug
            status[name] = f"error in {hook_name}: {type(exc).__name__}: {exc}"
            _report(name, f"plugin {name!r} raised in {hook_name} ({type(exc).__name__}: {exc}); disabled for this run")
            try:
                pm.set_blocked(name)
            except Exception:
                pass
            continue
        if res is None:
            continue
        if firstresult:
            return res
        results.append(res)
    return None if firstresult else results


def _origin_text(name: str) -> str:
    """Where a plugin came from: "entry point VALUE (dist VERSION)" or "registered in process". The
    distribution's name and version are read here, when asked for, not while loading (start-up time)."""
    if name in _origin:
        return _origin[name]
    ep = _entry_points.get(name)
    if ep is None:
        return ""
    dist = getattr(ep, "dist", None)
    return f"{ep.value}" + (f" ({dist.name} {dist.version})" if dist is not None else "")


def plugin_infos() -> list[PluginInfo]:
    """Every known plugin (loaded, disabled or broken), its hooks and its runner status."""
    load_plugins()
    out = []
    names = list(dict.fromkeys(list(status) + [n for n, _ in pm.list_name_plugin() if n]))
    for name in names:
        plugin = pm.get_plugin(name)
        hooks = []
        ok, msg = None, ""
        if plugin is not None:
            hooks = sorted(h.name for h in (pm.get_hookcallers(plugin) or []))
            fn = getattr(plugin, "runner_status", None)
            if callable(fn):
                try:
                    ok, msg = fn()
                except Exception as exc:
                    ok, msg = False, f"runner_status failed: {type(exc).__name__}: {exc}"
        out.append(PluginInfo(name, status.get(name, "loaded"), _origin_text(name), hooks, ok, msg))
    return out
