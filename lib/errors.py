"""The one error type the user sees, and the one range check that phrases its messages."""
from __future__ import annotations


class FaceswapError(Exception):
    """A problem the user can fix; its message says how. Caught once, in faceswap.py."""


def check_range(name: str, value: float | None, low: float, high: float, *, above: bool = False,
                unit: str = "") -> None:
    """FaceswapError unless low <= value <= high (low < value with above); None passes (left to a default).
    name says what the value is ("mask blur", or a flag "--crf" where the command line owns the value)."""
    if value is None or (low < value if above else low <= value) and value <= high:
        return
    unit = f" {unit}" if unit else ""
    if above:
        raise FaceswapError(f"{name} must be above {low:g} and at most {high:g}{unit}, not {value:g}")
    raise FaceswapError(f"{name} must be between {low:g} and {high:g}{unit}, not {value:g}")
