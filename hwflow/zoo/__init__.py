"""The model zoo: a registry fed by an explicit import list (timm's pattern).

    zoo.build("squeezenet", variant="1.1", input_shape=(32, 32, 3), classes=10)
    zoo.build("squeezenet", quant=plan, ...)   # the QKeras twin, same layer names

Every family file registers thin entry points with `@register`; their keyword parameters
are the model's config keys (`model:` section of a YAML), validated by `params_of`.
"""

from __future__ import annotations

import inspect
from typing import Callable, Collection

from hwflow.errors import ConfigError

_REGISTRY: dict[str, Callable] = {}
_CHOICES: dict[str, dict[str, Collection]] = {}


def register(name: str, choices: dict[str, Collection] | None = None):
    """`choices`: parameter -> its valid values, for parameters the entry point would reject with
    ValueError otherwise (hwflow.config checks them at load time: a ConfigError, not a traceback)."""
    def deco(fn: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = fn
        _CHOICES[name] = dict(choices or {})
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def entry(arch: str, *, where: str = "model.arch") -> Callable:
    try:
        return _REGISTRY[arch]
    except KeyError:
        raise ConfigError(f"{where}: unknown architecture {arch!r}; valid: {', '.join(list_models())}") from None


def params_of(arch: str, *, where: str = "model.arch") -> dict[str, inspect.Parameter]:
    """The keyword parameters of an architecture's entry point (its config keys), minus `quant`."""
    sig = inspect.signature(entry(arch, where=where))
    return {k: p for k, p in sig.parameters.items() if k != "quant"}


def choices_of(arch: str) -> dict[str, Collection]:
    """Parameter -> valid values of an architecture (see `register`)."""
    entry(arch)
    return _CHOICES[arch]


def build(arch: str, *, quant=None, **params):
    """Build `arch`; `quant` (a zoo.quant.QuantPlan) selects the QKeras twin."""
    return entry(arch)(quant=quant, **params)


# Explicit list of families (no directory scan).
from hwflow.zoo import mnasnet, mobilenet, mobilenet_v2, shufflenet, squeezenet  # noqa: E402,F401
