"""The one error type the user sees."""


class FaceswapError(Exception):
    """A problem the user can fix; its message says how. Caught once, in faceswap.py."""
