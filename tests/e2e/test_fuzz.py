"""A few of bench.fuzz's hostile inputs of each kind (face metadata, images, a video, alignments files, a model
folder, odd paths) through the real CLI, judged by bench.fuzz itself: one `error: ` line naming what is damaged
and a non-zero exit, or the bad file among many skipped with a warning naming it, or (odd paths) the right
output; never a traceback, and every file outside the output as it was. All of them: python -m bench.fuzz."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.fuzz import CASES, ERROR, SKIP, Inputs, Run, judge, run_case

pytestmark = pytest.mark.slow  # the fast tier leaves the end-to-end runs out

BY_NAME = {case.name: case for case in CASES}
# Most run commands without TensorFlow; a few load the model (convert, train), about 60 s in all on 2 cores.
CHOSEN = ("meta-no-chunk", "meta-landmarks-nan", "meta-size-zero", "meta-mesh-blendshapes-nan", "meta-nan-train",
          "face-0x0", "image-bomb-among", "video-cut", "alignments-not-json", "alignments-landmarks-1e308",
          "alignments-landmarks-nan", "state-truncated", "state-size-string", "keras-lambda", "npz-pickle",
          "paths-extract", "paths-convert")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return Inputs(tmp_path_factory.mktemp("fuzz_inputs"))


@pytest.mark.parametrize("name", CHOSEN)
def test_a_hostile_input_is_refused_or_skipped_and_nothing_else_changes(name: str, inputs: Inputs,
                                                                        tmp_path: Path) -> None:
    outcome = run_case(BY_NAME[name], inputs, tmp_path)
    stderr = tmp_path / name / "stderr.txt"
    assert outcome.problems == [], f"{outcome.verdict}\n{stderr.read_text()[-3000:] if stderr.is_file() else ''}"


def test_the_bench_covers_forty_inputs_and_every_command() -> None:
    assert len(CASES) >= 40 and len(BY_NAME) == len(CASES)
    commands = {case.command.split()[0] for case in CASES}
    assert commands >= {"extract", "train", "convert", "evaluate", "tools"}


def test_the_judge_sees_what_goes_wrong(tmp_path: Path) -> None:
    refused = Run(("x",), tmp_path / "out", ERROR, ("state.json",))
    assert judge(refused, 1, "error: state.json is damaged\n", changed="", output_before=None,
                 output_after=None) == []
    crashed = judge(refused, 1, "Traceback (most recent call last):\nValueError: x\n", changed="changed: a.png",
                    output_before=None, output_after={"half.png": "0"})
    assert crashed == ["traceback", "no single last `error: ` line", "output left behind",
                       "outside the output: changed: a.png"]
    assert judge(refused, 1, "error: the model is damaged\n", changed="", output_before=None,
                 output_after=None) == ["the error names none of state.json"]
    skipped = Run(("x",), tmp_path / "out", SKIP, ("bad.png",))
    assert judge(skipped, 0, "sorted 24 faces\n", changed="", output_before=None, output_after=None) == [
        "no warning naming bad.png"]
