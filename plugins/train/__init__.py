"""Train plugins: model architectures (the training itself lives in lib/training)."""
