"""Tests of the convert plugins and the blending, smoothing and writing it uses."""
