"""The plugin manager: loads entry points in group `llmfit` (built-ins included) and guards hook calls.

A plugin that raises is reported once (which plugin, which hook) and unregistered for the rest of
the run; the command keeps working with the others.
`LLMFIT_PLUGINS` (comma-separated allow-list) and `LLMFIT_DISABLE_PLUGINS` (deny-list) filter by name.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata

import pluggy

from llmfit_core import hookspecs

pm = pluggy.PluginManager("llmfit")
pm.add_hookspecs(hookspecs)

_loaded = False
# plugin name -> "loaded" | "disabled: ..." | "failed: ..." | "error in <hook>: ..."
status: dict[str, str] = {}
_reported: set[str] = set()


def _names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def load_plugins() -> pluggy.PluginManager:
    """Register every `llmfit` entry point once (respecting the allow/deny env vars)."""
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    allow = _names("LLMFIT_PLUGINS")
    deny = _names("LLMFIT_DISABLE_PLUGINS") or set()
    seen = set()
    for ep in metadata.entry_points(group="llmfit"):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        if (allow is not None and ep.name not in allow) or ep.name in deny:
            status[ep.name] = "disabled by environment"
            continue
        try:
            mod = ep.load()
        except Exception as exc:  # a broken plugin must not break llmfit
            status[ep.name] = f"failed to load: {type(exc).__name__}: {exc}"
            _report(ep.name, f"plugin {ep.name!r} failed to load ({type(exc).__name__}: {exc}); skipped")
            continue
        if pm.get_plugin(ep.name) is None and not pm.is_registered(mod):
            pm.register(mod, name=ep.name)
        status[ep.name] = "loaded"
    return pm


def _report(key: str, message: str) -> None:
    if key not in _reported:
        _reported.add(key)
        print(f"llmfit: warning: {message}", file=sys.stderr)


def call_hook(hook_name: str, **kwargs):
    """Call a hook, one implementation at a time, so one failing plugin is reported and skipped.

    Returns the first non-None result for firstresult hooks, else the list of non-None results.
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
            from llmfit_core.errors import LlmfitError

            if isinstance(exc, LlmfitError):
                raise  # an explained failure (404, gated repo, bad header) is the answer, not a plugin bug
            status[name] = f"error in {hook_name}: {type(exc).__name__}: {exc}"
            _report(name, f"plugin {name!r} raised in {hook_name} ({type(exc).__name__}: {exc}); disabled for this run")
            pm.set_blocked(name)
            continue
        if res is None:
            continue
        if firstresult:
            return res
        results.append(res)
    return None if firstresult else results
