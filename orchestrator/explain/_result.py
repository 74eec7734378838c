"""What an explanation holds: numbers, pictures and what was left out; saved as a folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.explain._importance import ColumnImportance

__all__ = ["WORST", "Explanation"]

WORST = 10  # rows of the worst-errors table


@dataclass
class Explanation:
    """What :func:`explain` found: numbers, pictures (PNG bytes by name) and what it left out."""

    study: str
    trial: int
    run_id: str | None
    family: str
    kind: str
    task: str
    metric: str
    samples: int
    importance: list[ColumnImportance] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)  # highlighted tokens, for HTML
    pictures: dict[str, bytes] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # a picture not drawn, and why
    badness: str = ""  # what the errors' ``badness`` is
    model: str | None = None  # the shipped model explained (else the trial's own weights)
    seconds: float = 0.0
    logged: bool = False

    def numbers(self) -> dict[str, Any]:
        """Everything but the pictures, JSON-serialisable (``explanation.json``)."""
        out = {k: v for k, v in asdict(self).items() if k != "pictures"}
        out["pictures"] = sorted(self.pictures)
        return json.loads(json.dumps(out, default=float))

    def summary(self) -> dict[str, Any]:
        """What the study remembers (:data:`ATTR_EXPLAIN`): small enough for a user attribute."""
        import datetime as dt

        numbers = self.numbers()
        numbers["importance"] = numbers["importance"][:WORST]
        numbers["texts"] = []
        numbers["at"] = dt.datetime.now().isoformat(timespec="seconds")
        return numbers

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``explanation.json`` and every picture into ``folder``; the paths written.

        Raises:
            ConfigError: the folder cannot be written.
        """
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            written = [folder / "explanation.json"]
            written[0].write_text(json.dumps(self.numbers(), indent=2))
            for name, png in self.pictures.items():
                path = folder / f"{name}.png"
                path.write_bytes(png)
                written.append(path)
        except OSError as exc:
            raise ConfigError(
                f"--out {folder}: cannot write there ({exc.strerror or exc}); give a folder "
                "you can write"
            ) from exc
        return written
