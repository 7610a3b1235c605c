"""What a run of train did: the closing block it prints, and what callers (the demo, the benchmarks) read."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Summary:
    """What a run of train did, for the closing block and for callers (the demo). saved: this process wrote the
    model folder (a worker other than the chief of several trains without writing)."""

    model_dir: Path
    start: int
    iteration: int = 0
    seconds: float = 0.0
    rate: float = 0.0  # EGs/s over the run's steps
    losses: dict[str, float] = field(default_factory=dict)
    stopped_by: str = "--iterations"
    notes: list[str] = field(default_factory=list)
    saved: bool = True

    def lines(self) -> list[str]:
        done = self.iteration - self.start
        losses = ", ".join(f"{name} {value:.4f}" for name, value in self.losses.items())
        saved = ([f"saved at iteration {self.iteration}: {self.model_dir / f'ckpt-{self.iteration}'} (train again "
                  "with the same -m to go on)"] if self.saved else [])
        return [f"iterations: {done} this run ({self.stopped_by}), {self.iteration} in total; "
                f"{self.seconds / 60:.1f} min at {self.rate:.1f} EGs/s",
                f"last losses: {losses or '-'}", *saved, *self.notes]
