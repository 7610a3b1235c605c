"""`train`: two folders of faces -> an A<->B model in a model folder that saves safely and resumes.
args: the command line and its Config; run: this process trains (session: options resolved, the model built or
resumed), or with --cluster local:N starts workers that do (launch); loop: the steps; summary: what a run did."""
import os

# TensorFlow turns its oneDNN kernels on by default only on AVX-512 CPUs; on an AVX2 CPU they train the original
# model 2x faster (8.5 vs 4.2 EGs/s at batch 16, bench/train.py). TF reads this when it is imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
