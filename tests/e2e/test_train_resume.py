"""Resume is proved, not just logged: a model folder that train saved, built again by train's own code
(scripts.train.session._build, as a resumed run builds it), has every part back as saved, array for array: the
weights training goes on from, the weight average that convert uses (and its swaps of real faces), the mask
network, and the optimisers' state (step count and moments)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.image import read_image
from lib.model.saved import load_models
from lib.model.state import read_state
from lib.model.swapper import Swapper, load_swapper
from lib.training.checkpoint import TRAINING_WEIGHTS
from tests.conftest import run_cli
from tests.model import extracted_faces

pytestmark = pytest.mark.slow


def test_a_resumed_model_has_every_part_as_saved(tmp_path_factory: pytest.TempPathFactory,
                                                 tmp_path: Path) -> None:
    import tensorflow as tf

    from scripts.train.args import Config, check
    from scripts.train.session import _build

    faces_a, faces_b = extracted_faces(tmp_path_factory, "A"), extracted_faces(tmp_path_factory, "B")
    model = tmp_path / "model"
    run_cli("train", "-A", faces_a, "-B", faces_b, "-m", model, "--model", "lightweight", "--learn-mask",
            "--batch-size", "2", "--iterations", "6", "--preview-every", "0", "--seed", "3", check=True)
    state = read_state(model)
    assert state is not None and state.iteration == 6 and TRAINING_WEIGHTS in state.files

    cfg = Config(input_a=faces_a, input_b=faces_b, model_dir=model)
    found, values, training, start = check(cfg)
    assert found == state and start is None
    trainer, _ = _build(cfg, values, training, found, tf.distribute.get_strategy(), start=None)

    # The weights training goes on from (not the average): as the checkpoint's TRAINING_WEIGHTS holds them.
    with np.load(model / state.checkpoint / TRAINING_WEIGHTS) as stored:
        expected = [stored[f"v{i:05d}"] for i in range(len(stored.files))]
    ours = [np.asarray(v.numpy()) for v in trainer.generator_variables]
    assert len(ours) == len(expected) and all(np.array_equal(a, b) for a, b in zip(ours, expected))
    # The optimisers' state, Adam's step count first among its variables.
    for key, optimizer in trainer.optimizers.items():
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        with np.load(model / state.checkpoint / f"{key}.npz") as stored:
            saved = [stored[f"v{i:05d}"] for i in range(len(stored.files))]
        assert int(inner.iterations.numpy()) == 6, key
        assert all(np.array_equal(np.asarray(v.numpy()), a) for v, a in zip(inner.variables, saved)), key
        assert any(np.abs(a).sum() > 0 for a in saved[1:]), f"{key}: its saved moments are all zero"
    # The weight average and the mask network: the saved .keras files, and the same swaps of real faces.
    saved_models = load_models(model, state, tuple(trainer.sub_models))
    size = trainer.input_size
    faces = np.stack([cv2.resize(read_image(path), (size, size), interpolation=cv2.INTER_AREA)
                      for path in sorted(faces_a.glob("*.png"))[:4]])
    saved_swapper = load_swapper(model)
    with trainer.averaged():
        for stem, sub_model in trainer.sub_models.items():
            assert all(np.array_equal(a, b) for a, b in
                       zip(sub_model.get_weights(), saved_models[stem].get_weights())), stem
        ours = Swapper(trainer.encoder, trainer.decoder_a, trainer.decoder_b, found.config, iteration=6,
                       masker=trainer.masker)
        for direction in ("a2b", "b2a"):
            (our_faces, our_masks), (their_faces, their_masks) = (ours.swap(faces, direction),
                                                                  saved_swapper.swap(faces, direction))
            # The same weights through the trainer's live models and the reloaded ones: equal but for float
            # rounding (a grey level on a few pixels).
            assert np.abs(our_faces.astype(np.int16) - their_faces).max() <= 1
            assert our_masks is not None and their_masks is not None
            np.testing.assert_allclose(our_masks, their_masks, atol=5e-3)
    # The model moved away from its start: a trainer built fresh would not match (the check can fail).
    fresh, _ = _build(Config(input_a=faces_a, input_b=faces_b, model_dir=tmp_path / "new"), values, training,
                      None, tf.distribute.get_strategy(), start=None)
    assert not all(np.array_equal(np.asarray(a.numpy()), b) for a, b in zip(fresh.generator_variables, expected))
