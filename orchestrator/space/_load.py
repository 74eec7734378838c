"""The entry points: a search space from a file, from YAML text, or from a stored mapping."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import Problem, SpaceError
from orchestrator.space._build import _Builder
from orchestrator.space._model import Space
from orchestrator.space._yaml import (
    _OVERRIDE_SOURCE,
    _apply_overrides,
    _blame,
    _load_yaml,
    _Override,
    _parse_overrides,
)


def load_space(path: str | Path, *, overrides: Sequence[str] = ()) -> Space:
    """Read, validate and return the search space in ``path``.

    Args:
        path: the YAML file; its stem is the default study name.
        overrides: ``dotted.key=value`` strings (``--set``), applied before validation.

    Raises:
        SpaceError: with every problem found; source ``--set`` for a malformed override.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(source, [Problem("", "file not found; check the path")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpaceError(source, [Problem("", f"cannot read the file: {reason}")]) from None
    return parse_space(text, source=source, overrides=overrides)


def parse_space(text: str, *, source: str = "<string>", overrides: Sequence[str] = ()) -> Space:
    """Validate a search space given as YAML text.

    Raises:
        SpaceError: with every problem found; a problem an override caused is blamed on that
            ``--set``, not on the file.
    """
    parsed, problems = _parse_overrides(overrides)
    raw = _load_yaml(text, source=source)
    original = copy.deepcopy(raw)
    applied: list[_Override] = []
    if parsed:
        if raw is None:
            raw = {}
        if isinstance(raw, dict):
            applied, more = _apply_overrides(raw, parsed)
            problems += more
    if problems:
        raise SpaceError(_OVERRIDE_SOURCE, problems)
    try:
        space = parse_space_dict(raw, source=source, text=text)
    except SpaceError as exc:
        if not applied:
            raise
        blamed = _blame(exc.problems, applied, alone=lambda: _problems_of(original, source))
        raise SpaceError(source, blamed) from None
    return dataclasses.replace(space, _overrides=tuple(applied))


def _problems_of(raw: Any, source: str) -> list[Problem]:
    """The problems of a file's mapping as it is, without overrides."""
    builder = _Builder()
    builder.space(copy.deepcopy(raw), source=source)
    return builder.problems


def parse_space_dict(raw: Any, *, source: str, text: str | None = None) -> Space:
    """Validate a search space already read into a mapping (e.g. ``Space.raw``, stored earlier).

    Raises:
        SpaceError: with every problem found.
    """
    raw = copy.deepcopy(raw)
    builder = _Builder()
    root, study = builder.space(raw, source=source)
    if builder.problems or root is None or study is None:
        raise SpaceError(source, builder.problems)
    raw.setdefault("study", None)
    if raw["study"] is None:
        raw["study"] = {}
    raw["study"]["name"] = study.name
    if text is None:
        text = yaml.safe_dump(raw, sort_keys=False)
    return Space(source=source, text=text, raw=raw, study=study, _root=root)
