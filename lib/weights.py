"""Where the packaged model files live. Nothing is ever downloaded."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from lib.errors import FaceswapError

LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"
MMOD_DETECTOR = "mmod_human_face_detector.dat"
FACE_DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"


def dlib_model(name: str) -> Path:
    """Path of one of dlib's model files shipped by the face_recognition_models package."""
    # find_spec, not import: the package's __init__ imports pkg_resources, gone from new setuptools.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FaceswapError("dlib's model files are missing: pip install face_recognition_models==0.3.0")
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise FaceswapError(f"{name} is missing from face_recognition_models: reinstall that package")
    return path
