"""extract's run: the input checked, its faces extracted here (extractor.py) or on a cluster (shard.py)."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from lib.alignments import Alignments, SpooledFrames
from lib.errors import FaceswapError
from lib.media import FrameSource
from scripts.extract.args import Config, check
from scripts.extract.extractor import Extractor, Summary, known_frames
from scripts.progress import progress as show_progress

log = logging.getLogger("faceswap.extract")


def run(cfg: Config) -> Summary:
    """Extract every face of the input; returns the summary it also logs."""
    alignments_path = check(cfg)
    source = FrameSource(cfg.input, cfg.every_n)
    made = [folder for folder in (cfg.output, alignments_path.parent) if not folder.exists()]
    # An earlier alignments file this run does not build on (no --skip-existing): replaced only if the run ends.
    replaces = alignments_path.exists() and not cfg.skip_existing
    cfg.output.mkdir(parents=True, exist_ok=True)
    alignments_path.parent.mkdir(parents=True, exist_ok=True)
    # The frames found so far wait on disk, not in memory, until the alignments file is written at the end.
    known = known_frames(cfg, alignments_path, source.source_name) if cfg.skip_existing else {}
    spool = SpooledFrames(alignments_path.parent, known)
    alignments = Alignments(source.source_name, source.kind, spool)
    summary = Summary()
    progress = show_progress(source.total, "extract", "frame")
    parts_folder = None
    finished = False
    try:
        if cfg.cluster is not None:
            from scripts.extract.shard import extract_on_cluster  # loads Ray only with --cluster

            parts_folder = extract_on_cluster(cfg, source, alignments, summary, progress)
        else:
            Extractor(cfg).extract(source, alignments, summary, progress,
                                   set(alignments.frames) if cfg.skip_existing else ())
        finished = True
    except BaseException:
        _remove_empty(made)  # stopped before writing anything (the cluster refused the paths, say)
        raise
    finally:
        progress.close()
        try:
            if alignments.frames and (finished or not replaces):
                _save(alignments, alignments_path)  # an unfinished run's too: --skip-existing goes on from it
            elif alignments.frames:
                log.warning("%s is left as it was (this run did not finish; the faces it wrote are in %s): run "
                            "again to replace it", alignments_path, cfg.output)
        finally:
            spool.close()
    if parts_folder is not None:  # merged and saved: the cluster's parts go
        shutil.rmtree(parts_folder)
    if summary.problem:
        log.warning("the video ended badly (%s): the frames before that point were extracted", summary.problem)
    if summary.frames_read == 0 and not summary.frames_skipped_existing:
        _remove_empty(made)  # nothing was written: leave no empty folder behind
        raise FaceswapError(f"no frame of {cfg.input} could be read: {', '.join(summary.skipped) or 'empty'}")
    for line in summary.lines():
        log.info(line)
    log.info("alignments: %s", alignments_path)
    return summary


def _remove_empty(folders: list[Path]) -> None:
    """The folders this run made, removed if they are still empty."""
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _save(alignments: Alignments, path: Path) -> None:
    try:
        alignments.save(path)
    except OSError as err:
        raise FaceswapError(f"cannot write the alignments file {path}: {err.strerror or err}") from err
