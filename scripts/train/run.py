"""train's run: --cluster local:N starts N workers of train on this machine (scripts/train/launch.py); otherwise
this process trains (scripts/train/session.py), alone or, with TF_CONFIG set, as one worker of several."""
from __future__ import annotations

from scripts.train.args import Config
from scripts.train.launch import launch_local
from scripts.train.summary import Summary


def run(cfg: Config) -> Summary:
    """Train (see session.train); with --cluster, on worker processes that this one starts and watches."""
    if cfg.cluster is not None:
        return launch_local(cfg)
    # Imported here: --cluster's parent only watches its workers and never loads TensorFlow (9 s, 550 MB).
    from scripts.train.session import train

    return train(cfg)
