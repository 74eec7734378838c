"""The report's section on what the winner looks at: the pictures and tables of ``hpo explain``.

The study remembers its last explanation (trial, MLflow run); when it is of the winner, the
report shows it as logged (``explain/`` on the trial's run), else it explains the winner now
and logs that. Nothing here breaks the report: a failure is said in the section.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import first_line
from orchestrator.numbers import fmt_number

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from orchestrator.report._data import StudyData

__all__ = ["Explained", "explain_section", "explained_winner"]

logger = logging.getLogger(__name__)
esc = html.escape

# picture -> (title, how to read it)
PICTURES = {
    "importance": (
        "Which columns matter",
        "Left: how much the study's metric drops on the test split when a column's values are "
        "shuffled across rows (its one-hot columns together), with the spread over repeats; "
        "near zero or below: the network does without it. Right: the mean absolute integrated "
        "gradients of the same columns, how strongly the output moves with them.",
    ),
    "images": (
        "Where the network looks",
        "Per class, its most confident right prediction beside its most confident wrong one. "
        "Integrated gradients: red pixels push towards the class predicted, blue away from it. "
        "Grad-CAM: where the last convolution's features that drive the class are.",
    ),
    "sequences": (
        "Which time steps matter",
        "The signal over time, coloured by integrated gradients: red steps push towards the "
        "class (or value) predicted, blue away from it; most confident right predictions first.",
    ),
    "text": (
        "Which words matter",
        "Each token coloured by its attribution (layer integrated gradients on the embedding): "
        "red pushes towards the class predicted, blue away from it.",
    ),
    "errors": (
        "Gallery of the worst errors",
        "The test images the network got most confidently wrong: what they are, what it said.",
    ),
}


@dataclass
class Explained:
    """An explanation as the report shows it, or why there is none."""

    trial: int
    numbers: dict[str, Any] = field(default_factory=dict)
    pictures: dict[str, bytes] = field(default_factory=dict)
    fresh: bool = False  # explained for this report (not read back from MLflow)
    failure: str | None = None


def explained_winner(
    data: StudyData,
    ranked: list[tuple[int | None, FrozenTrial]],
    *,
    storage: str | None,
    tracking_uri: str | None,
    log: bool,
) -> Explained | None:
    """The winner's explanation: the study's last one when it is of the winner (read back from
    its MLflow run), else explained now; None without a completed trial or an MLflow store."""
    from orchestrator.explain import ARTIFACT_DIR, ATTR_EXPLAIN, explain

    winner = next((t for rank, t in ranked if rank == 1 and t.state.name == "COMPLETE"), None)
    if winner is None or data.tracker is None:
        return None
    kept = data.study.user_attrs.get(ATTR_EXPLAIN) or {}
    if kept.get("trial") == winner.number and kept.get("run_id"):
        try:
            explained = _read_back(data, winner.number, kept["run_id"], ARTIFACT_DIR)
            explained.numbers.setdefault("at", kept.get("at", ""))
            return explained
        except Exception as exc:  # the artifacts went missing: explain again
            logger.info("explanation of trial %d not read back (%s)", winner.number, exc)
    try:
        result = explain(
            data.name,
            storage=storage,
            tracking_uri=tracking_uri,
            trial=winner.number,
            log=log,
            study=data.study,
        )
    except Exception as exc:  # the report goes on without it, and says why
        logger.warning("the winner was not explained: %s", first_line(exc))
        return Explained(winner.number, failure=first_line(exc))
    return Explained(winner.number, result.numbers(), dict(result.pictures), fresh=True)


def _read_back(data: StudyData, trial: int, run_id: str, folder: str) -> Explained:
    assert data.tracker is not None
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(data.tracker.download(run_id, folder, tmp))
        numbers = json.loads((where / "explanation.json").read_text())
        pictures = {p.stem: p.read_bytes() for p in sorted(where.glob("*.png"))}
    return Explained(trial, numbers, pictures)


def explain_section(explained: Explained, *, study: str) -> str:
    """The section's HTML: what was explained, each picture with how to read it, the columns
    that matter, the highlighted texts and the worst errors."""
    command = f"hpo explain --study {study} --trial {explained.trial}"
    if explained.failure:
        return (
            f'<p class="note" data-explain="failed">Trial #{explained.trial} was not explained: '
            f"{esc(explained.failure)}. Try <code>{esc(command)}</code>.</p>"
        )
    n = explained.numbers
    when = "explained for this report" if explained.fresh else f"explained {n.get('at', '')}"
    parts = [
        f'<p data-explain="trial-{explained.trial}">Trial #{explained.trial} ({esc(n["family"])} '
        f"on {esc(n['kind'])}, {esc(n['task'])}), on the test split: {n['samples']} samples "
        f"attributed, {esc(when.strip())}. Re-run: <code>{esc(command)}</code>; how to read each "
        "picture: docs/report-and-ship.md.</p>"
    ]
    for name, (title, reading) in PICTURES.items():
        if name not in explained.pictures:
            continue
        encoded = base64.b64encode(explained.pictures[name]).decode("ascii")
        parts += [
            f"<h3>{esc(title)}</h3>",
            f'<p class="note">{esc(reading)}</p>',
            f'<img data-explain="{name}" alt="{esc(title)}" src="data:image/png;base64,{encoded}">',
        ]
        if name == "importance":
            parts.append(_importance_table(n))
        if name == "text":
            parts.append(_texts(n.get("texts") or []))
    parts.append(_errors_table(n))
    for name, why in (n.get("skipped") or {}).items():
        parts.append(f'<p class="note">Not drawn: {esc(name)}: {esc(why)}.</p>')
    return "\n".join(parts)


def _importance_table(numbers: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td class="text">{esc(c["column"])}</td><td>{fmt_number(c["mean"])}</td>'
        f"<td>{fmt_number(c['std'])}</td><td>{fmt_number(c['attribution'])}</td></tr>"
        for c in numbers.get("importance", [])[:10]
    )
    head = (
        f'<tr><th class="text">column</th><th>drop of {esc(numbers["metric"])}</th>'
        "<th>± std</th><th>mean |integrated gradients|</th></tr>"
    )
    return f'<table data-table="importance">{head}{rows}</table>'


def _texts(texts: list[dict[str, Any]]) -> str:
    """Highlighted texts: each token on a red (for) or blue (against) background."""
    out = []
    for text in texts:
        bound = max((abs(v) for _, v in text["tokens"]), default=1.0) or 1.0
        spans = []
        for token, value in text["tokens"]:
            alpha = min(abs(value) / bound, 1.0)
            colour = "220,50,47" if value > 0 else "38,139,210"
            spans.append(
                f'<span style="background: rgba({colour},{alpha:.2f})" '
                f'title="{fmt_number(value)}">{esc(token)}</span>'
            )
        side = "right" if text["right"] else "wrong"
        out.append(
            f'<p class="text" data-text="{side}"><b>{side}: {esc(text["actual"])} → '
            f"{esc(text['predicted'])}</b> " + " ".join(spans) + "</p>"
        )
    return "\n".join(out)


def _errors_table(numbers: dict[str, Any]) -> str:
    errors = numbers.get("errors") or []
    if not errors:
        return '<p class="note">No wrong prediction in the test split.</p>'
    badness = esc(numbers.get("badness") or "how wrong")
    rows = "".join(
        f'<tr><td>{e["row"]}</td><td class="text">{esc(e["actual"])}</td>'
        f'<td class="text">{esc(e["predicted"])}</td><td>{fmt_number(e["badness"])}</td></tr>'
        for e in errors
    )
    return (
        "<h3>Worst errors</h3>"
        f'<table data-table="errors"><tr><th>row</th><th class="text">true</th>'
        f'<th class="text">predicted</th><th>{badness}</th></tr>{rows}</table>'
    )
