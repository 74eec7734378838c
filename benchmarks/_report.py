"""results.json read back and written, and RESULTS.md rendered from it: the machine it ran on, the
counts line, the targets table and one part per section."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from _harness import ORDER, ROOT, Settings


def machine() -> dict[str, Any]:
    """The machine, the library versions and hpo's commit, for the report's first lines."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    from importlib import metadata

    for pkg in ("torch", "optuna", "mlflow", "sqlalchemy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[pkg] = metadata.version(pkg)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    info["commit"] = commit + (" (with uncommitted changes)" if dirty else "")
    return info


def counts_line(results: dict[str, Any]) -> str:
    """Which preset's counts each section ran with, and where they differ from the issue's."""
    sections = [results["sections"][k] for k in ORDER if k in results["sections"]]
    fallback = results["meta"]["settings"]
    presets: dict[str, list[str]] = {}
    deviations: list[str] = []
    for sec in sections:
        presets.setdefault(sec.get("preset", fallback["preset"]), []).append(
            sec["title"].split(".")[0]
        )
        for text in sec.get("deviations", fallback["deviations"]):
            text = text if isinstance(text, str) else text[1]  # results.json before per-section
            if text not in deviations:
                deviations.append(text)
    if len(presets) == 1:
        said = f"preset `{next(iter(presets))}`"
    else:
        said = "preset " + "; ".join(
            f"`{name}` in section{'s' if len(nums) > 1 else ''} {', '.join(nums)}"
            for name, nums in presets.items()
        )
    if deviations:
        return f"Counts: {said}. Deviations from the issue: {'; '.join(deviations)}."
    return f"Counts: {said}. The issue's numbers throughout."


def render(results: dict[str, Any]) -> str:
    """RESULTS.md from the results: the targets of every section, then each section."""
    meta = results["meta"]
    m = meta["machine"]
    lines = [
        "# hpo benchmarks",
        "",
        f"Last written by `{meta['command']}` on {meta['finished']}; each section says when "
        f"it ran and how to re-run it alone. Machine: {m.get('cores')} cores "
        f"({m.get('cpu', '?')}), no GPU unless section 8 says otherwise, Python {m['python']}, "
        f"torch {m.get('torch')}, optuna {m.get('optuna')}, mlflow {m.get('mlflow')}; hpo at "
        f"{m.get('commit')}.",
        "",
        "The arms of each comparison alternate (A B, then B A, ...) on a shared machine that "
        "others were using at the same time: read the ratios, not the absolute seconds. Each "
        "section gives the 1-, 5- and 15-minute load averages before and after it, and the "
        "command that re-runs it alone.",
        "",
        counts_line(results),
        "",
        "## Targets",
        "",
        "| benchmark | what | target | measured | met |",
        "|---|---|---|---|---|",
    ]
    for key in ORDER:
        sec = results["sections"].get(key)
        if sec is None:
            continue
        if sec["status"] != "ok" and not sec["targets"]:
            said = (
                sec["reason"]
                if sec["status"] in sec["reason"]
                else f"{sec['status']}: {sec['reason']}"
            )
            lines.append(f"| {sec['title']} | – | – | {said} | – |")
        for t in sec["targets"]:
            met = {True: "yes", False: "**no**", None: "–"}[t["met"]]
            lines.append(
                f"| {sec['title']} | {t['what']} | {t['target']} | {t['measured']} | {met} |"
            )
    for key in ORDER:
        sec = results["sections"].get(key)
        if sec is None:
            continue
        lines += ["", f"## {sec['title']}", ""]
        if sec["reason"]:
            status = sec["status"] if sec["status"] != "ok" else "partly run"
            lines += [f"**{status}**: {sec['reason']}", ""]
        for t in sec["tables"]:
            if t["caption"]:
                lines += [f"*{t['caption']}*", ""]
            lines.append("| " + " | ".join(t["columns"]) + " |")
            lines.append("|" + "---|" * len(t["columns"]))
            for row in t["rows"]:
                lines.append("| " + " | ".join(str(c) for c in row) + " |")
            lines.append("")
        for t in sec["targets"]:
            met = {True: "met", False: "**missed**", None: "not measured"}[t["met"]]
            lines.append(f"- {t['what']}: {t['measured']} (target {t['target']}): {met}")
        if sec["targets"]:
            lines.append("")
        for note in sec["notes"]:
            lines += [note, ""]
        if sec.get("load"):
            before = ", ".join(map(str, sec["load"].get("before") or []))
            after = ", ".join(map(str, sec["load"].get("after") or []))
            at = f" on hpo {sec['commit']}" if sec.get("commit") else ""
            lines += [
                f"Ran {sec.get('when', '?')}{at} for {sec.get('seconds', 0):.0f} s; load average "
                f"before {before}, after {after}.",
                "",
            ]
        lines += ["Commands:", "", "```bash", f"{sec.get('command', '')}  # this section alone"]
        if sec["commands"]:
            lines += ["# what it runs:", *sec["commands"]]
        lines += ["```", ""]
    return "\n".join(lines).rstrip() + "\n"


def previous_results(path: Path, *, quick: bool) -> dict[str, Any] | None:
    """The results at ``path`` that a run of some sections adds to, or None when there are none
    to add to: missing, unreadable, or of the other kind (quick runs never mix with real ones).

    Sections keep the counts they ran with: each says its preset and its deviations.
    """
    if not path.exists():
        return None
    try:
        previous = json.loads(path.read_text())
        before = previous["meta"]["settings"]["preset"]
        sections = previous["sections"]
    except (ValueError, KeyError):
        return None
    if (before == "quick") != quick:
        return None
    for key, sec in sections.items():  # written before sections said it
        sec.setdefault("preset", before)
        sec.setdefault("deviations", Settings.make(before).deviations_for(key))
    return previous


def write_results(results: dict[str, Any], *, json_path: Path, md_path: Path) -> None:
    """results.json, and RESULTS.md rendered from it."""
    json_path.write_text(json.dumps(results, indent=1, default=str))
    md_path.write_text(render(results))
