"""The commands: each wires lib and the plugins into one job of faceswap.py."""
import os

# TensorFlow turns its oneDNN kernels on by default only on AVX-512 CPUs; on an AVX2 CPU they train the original
# model 2x faster (8.5 vs 4.2 EGs/s at batch 16, bench/train.py). TensorFlow reads this once, when it is first
# imported, so it is set here, before any command (or a benchmark that runs one) can import it: demo and
# bench.quality load TensorFlow for convert and evaluate before they train.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
