"""The report's last two sections: what failed (and where pruned trials stopped), and the
compute used: trial time and epochs by state, the runs with their worker processes, the wall
clock as ``_activity`` defines it, seconds per epoch and devices."""

from __future__ import annotations

import html
from collections import Counter

from orchestrator.config import format_duration
from orchestrator.report._activity import Activity, Run
from orchestrator.report._data import StudyData, _duration, _epochs_run

MAX_RUN_ROWS = 10  # runs listed one per row; beyond, the first and last few
esc = html.escape


def _failures_section(data: StudyData) -> str:
    failed = [t for t in data.trials if t.state.name == "FAIL"]
    pruned = [t for t in data.trials if t.state.name == "PRUNED"]
    parts = []
    if not failed:
        parts.append("<p>No trial failed.</p>")
    else:
        kinds = Counter(str(t.user_attrs.get("fail_kind", "unknown")) for t in failed)
        parts.append(
            f"<p>{len(failed)} failed: "
            + esc(", ".join(f"{n} {k}" for k, n in kinds.most_common()))
            + ".</p>"
        )
        groups: dict[tuple[str, str], list[int]] = {}
        for trial in failed:
            key = (
                str(trial.user_attrs.get("fail_kind", "unknown")),
                str(trial.user_attrs.get("fail_reason", "no reason recorded")),
            )
            groups.setdefault(key, []).append(trial.number)
        body = "".join(
            f'<tr><td class="text">{esc(kind)}</td><td class="text">{esc(reason)}</td>'
            f"<td>{len(numbers)}</td>"
            f'<td class="text">{esc(", ".join(f"#{n}" for n in numbers[:20]))}'
            f"{' ...' if len(numbers) > 20 else ''}</td></tr>"
            for (kind, reason), numbers in sorted(groups.items(), key=lambda kv: -len(kv[1]))
        )
        parts.append(
            '<table><tr><th class="text">kind</th><th class="text">reason</th><th>trials</th>'
            f'<th class="text">which</th></tr>{body}</table>'
        )
    if pruned:
        at = Counter(_epochs_run(t, {}) for t in pruned)
        listing = ", ".join(
            f"{n} after epoch {e}" for e, n in sorted(at.items(), key=lambda kv: kv[0] or 0)
        )
        parts.append(f"<p>{len(pruned)} pruned: {esc(listing)}.</p>")
    return "\n".join(parts)


def _compute_section(data: StudyData, activity: Activity) -> str:
    rows = []
    total_seconds = 0.0
    total_epochs = 0
    by_state: dict[str, tuple[int, float, int]] = {}
    for trial in data.trials:
        seconds = _duration(trial) or 0.0
        epochs = _epochs_run(trial, data.cached_histories(trial)) or 0
        n, s, e = by_state.get(trial.state.name, (0, 0.0, 0))
        by_state[trial.state.name] = (n + 1, s + seconds, e + epochs)
        total_seconds += seconds
        total_epochs += epochs
    for state, (n, seconds, epochs) in sorted(by_state.items()):
        share = 100 * seconds / total_seconds if total_seconds else 0.0
        rows.append(
            f'<tr><td class="text">{esc(state)}</td><td>{n}</td>'
            f"<td>{esc(format_duration(seconds))}</td>"
            f"<td>{share:.0f}%</td><td>{epochs}</td></tr>"
        )
    rows.append(
        f'<tr><th class="text">all</th><th>{len(data.trials)}</th>'
        f"<th>{esc(format_duration(total_seconds))}</th><th>100%</th><th>{total_epochs}</th></tr>"
    )
    table = (
        '<table><tr><th class="text">state</th><th>trials</th><th>trial time</th>'
        f"<th>share</th><th>epochs trained</th></tr>{''.join(rows)}</table>"
    )
    notes = []
    if total_epochs:
        notes.append(f"{total_seconds / total_epochs:.2f} s of trial time per epoch on average")
    devices = data.devices()
    if devices:
        notes.append(
            "devices: "
            + ", ".join(d if n is None else f"{d} ({n} trials)" for d, n in devices.items())
        )
    extra = f"<p>{esc('; '.join(notes))}.</p>" if notes else ""
    return table + extra + _runs_part(activity)


def _runs_part(activity: Activity) -> str:
    """The runs, their worker processes and the wall clock, with what each means."""
    if not activity.runs:
        return ""
    n = len(activity.runs)
    wall = format_duration(activity.wall_seconds)
    if activity.known:
        processes = (
            f"at most {activity.peak} worker process{'es' * (activity.peak != 1)} at a time "
            f"({activity.processes} in all)"
        )
    else:
        processes = "worker processes unknown (the trials carry no worker record)"
    text = (
        f"Wall clock {wall} in {n} run{'s' * (n > 1)}, {processes}. A run is a stretch of time "
        "in which trials ran without a pause (one hpo run with all its --jobs workers); its wall "
        "clock is its first trial's start to its last trial's end, so the time between runs, "
        "the start-up before the first trial and the test evaluation after the last (which "
        "hpo run's own time includes) do not count."
    )
    shown: list[tuple[int, Run]] = list(enumerate(activity.runs, start=1))
    if n > MAX_RUN_ROWS:
        half = MAX_RUN_ROWS // 2
        shown = shown[:half] + shown[-half:]
    body = []
    for i, (number, run) in enumerate(shown):
        if i and number != shown[i - 1][0] + 1:
            body.append(
                f'<tr><td class="text" colspan="6">... {number - shown[i - 1][0] - 1} '
                "more runs ...</td></tr>"
            )
        body.append(
            f"<tr><td>{number}</td><td>{run.start:%Y-%m-%d %H:%M:%S}</td>"
            f"<td>{run.end:%Y-%m-%d %H:%M:%S}</td><td>{esc(format_duration(run.seconds))}</td>"
            f"<td>{run.trials}</td><td>{run.peak if activity.known else '-'}</td></tr>"
        )
    table = (
        '<table data-table="runs"><tr><th>run</th><th>first trial started</th>'
        "<th>last trial ended</th><th>wall clock</th><th>trials</th>"
        f"<th>processes at a time</th></tr>{''.join(body)}</table>"
    )
    return f"<p>{esc(text)}</p>" + table
