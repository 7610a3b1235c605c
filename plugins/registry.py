"""Lazy plugin lookup: a registry maps a CLI name to 'module:Class', imported only when chosen."""
from __future__ import annotations

import importlib
from typing import Any

from lib.errors import FaceswapError


def load_plugin(registry: dict[str, str], kind: str, name: str) -> Any:
    """Import and return the class registered under name; unknown names list the choices."""
    if name not in registry:
        raise FaceswapError(f"unknown {kind} '{name}': choose one of {', '.join(sorted(registry))}")
    module_name, class_name = registry[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)
