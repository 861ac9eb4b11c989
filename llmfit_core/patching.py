"""Patching a function in place, and running code right after a module is imported.

`divert(func, handler)` makes every call of the function object `func` go to `handler(original, args,
kwargs)`, however the caller got hold of `func`: `from pkg import func` done long before, a module
attribute another library copied at its import time, a bound method, a functools.partial. It does so by
swapping `func.__code__` for a small trampoline (same number of closure cells, so CPython accepts it)
and keeping `original`, an exact copy of the function as it was (same code, globals, closure, defaults).
Replacing module attributes instead would miss every name imported before the patch, which is how the
download guard was once skipped. `restore()` puts the code back.

`when_imported(name, callback)` calls `callback(module)` once the module `name` has finished executing
(now if it is already in sys.modules), through one meta-path finder that wraps the loader of the modules
it watches and nothing else. It lets a start-up hook patch a library without importing it.
"""

from __future__ import annotations

import importlib.abc
import inspect
import itertools
import sys
import threading
import types
from dataclasses import dataclass, field
from typing import Callable

Handler = Callable[[Callable, tuple, dict], object]


@dataclass
class Diversion:
    """A function whose calls go to `handler`; `original` is its untouched copy."""

    func: types.FunctionType
    original: types.FunctionType
    handler: Handler
    code: types.CodeType  # func's own code, put back by restore()
    key: int = 0
    had_signature: bool = False


_diversions: dict[int, Diversion] = {}
_originals: dict[int, types.FunctionType] = {}  # kept after restore(): a call already in the trampoline finishes
_counter = itertools.count(1)
_lock = threading.RLock()


def _dispatch(key: int, args: tuple, kwargs: dict):
    """What a diverted function runs: its handler, given the original copy."""
    d = _diversions.get(key)
    if d is None:  # restored while this call was on its way
        return _originals[key](*args, **kwargs)
    return d.handler(d.original, args, kwargs)


def _trampoline(key: int, name: str, n_free: int) -> types.CodeType:
    """Code that calls _dispatch(key, ...) and has exactly `n_free` free variables (never read)."""
    free = [f"_cell{i}" for i in range(n_free)]
    lines = ["def _outer():"]
    lines += [f"    {v} = None" for v in free]
    lines += [f"    def {name}(*args, **kwargs):"]
    if free:  # referenced in dead code only: they become free variables, the original's cells fill them
        lines += ["        if False:", f"            ({', '.join(free)},)"]
    lines += ["        from llmfit_core.patching import _dispatch",
              f"        return _dispatch({key}, args, kwargs)",
              f"    return {name}"]
    ns: dict = {}
    exec("\n".join(lines), ns)  # noqa: S102 - generated from integers and an identifier
    code = ns["_outer"]().__code__
    if len(code.co_freevars) != n_free:
        raise RuntimeError(f"trampoline for {name}: {len(code.co_freevars)} free variables, expected {n_free}")
    return code


def copy_function(func: types.FunctionType) -> types.FunctionType:
    """An independent function object with func's code, globals, closure, defaults and attributes."""
    clone = types.FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    clone.__kwdefaults__ = dict(func.__kwdefaults__) if func.__kwdefaults__ else None
    clone.__dict__.update(func.__dict__)
    clone.__qualname__, clone.__module__, clone.__doc__ = func.__qualname__, func.__module__, func.__doc__
    return clone


def divert(func: types.FunctionType, handler: Handler) -> Diversion:
    """Send every call of `func` to `handler(original, args, kwargs)`; diverting twice replaces the handler."""
    if not isinstance(func, types.FunctionType):
        raise TypeError(f"can only divert Python functions, not {type(func).__name__}")
    with _lock:
        for d in _diversions.values():
            if d.func is func:
                d.handler = handler
                return d
        original = copy_function(func)
        key = next(_counter)
        d = Diversion(func, original, handler, func.__code__, key, "__signature__" in func.__dict__)
        if not d.had_signature and "__wrapped__" not in func.__dict__:
            try:  # inspect.signature(func) keeps telling the real parameters
                func.__signature__ = inspect.signature(original)
            except (TypeError, ValueError):
                pass
        _diversions[key] = d
        _originals[key] = original
        func.__code__ = _trampoline(key, func.__code__.co_name, len(func.__code__.co_freevars))
        return d


def restore(d: Diversion) -> None:
    """Undo divert(): the function runs its own code again."""
    with _lock:
        if _diversions.pop(d.key, None) is None:
            return
        d.func.__code__ = d.code
        if not d.had_signature:
            d.func.__dict__.pop("__signature__", None)


def diversion_of(func) -> Diversion | None:
    """The active Diversion of `func`, if any."""
    for d in list(_diversions.values()):
        if d.func is func:
            return d
    return None


def undiverted(func):
    """The callable that runs `func`'s own behaviour (its original copy when diverted)."""
    d = diversion_of(func)
    return func if d is None else d.original


# ---- post-import hooks ------------------------------------------------------------------------


@dataclass
class _Watch:
    callbacks: list = field(default_factory=list)


_watches: dict[str, _Watch] = {}


class _Loader(importlib.abc.Loader):
    """Wraps a watched module's loader: exec_module, then the callbacks; the module keeps its own loader."""

    def __init__(self, loader, name: str):
        self.loader = loader
        self.name = name

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        spec = module.__spec__
        if spec is not None and spec.loader is self:
            spec.loader = self.loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self.loader
        self.loader.exec_module(module)
        _run_callbacks(self.name, module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds watched modules through the other finders and wraps their loader."""

    def __init__(self):
        self.local = threading.local()

    def find_spec(self, name, path, target=None):
        if name not in _watches or getattr(self.local, "busy", False):
            return None
        self.local.busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self.local.busy = False
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, name)
        return spec


_finder = _Finder()


def _run_callbacks(name: str, module) -> None:
    watch = _watches.pop(name, None)
    if not any(_watches) and _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for cb in (watch.callbacks if watch else []):
        cb(module)


def when_imported(name: str, callback: Callable) -> None:
    """Call `callback(module)` once module `name` is imported (now, if it already is)."""
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            callbacks = _watches.setdefault(name, _Watch()).callbacks
            if callback not in callbacks:
                callbacks.append(callback)
            if _finder not in sys.meta_path:
                sys.meta_path.insert(0, _finder)
            return
    callback(module)


def cancel_watches(callback: Callable | None = None) -> None:
    """Forget pending when_imported callbacks (all, or those equal to `callback`)."""
    with _lock:
        for name in list(_watches):
            w = _watches[name]
            w.callbacks = [c for c in w.callbacks if callback is not None and c != callback]
            if not w.callbacks:
                del _watches[name]
        if not _watches and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
