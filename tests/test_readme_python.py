"""README.md, "From Python": the snippet that opens a study with plain Optuna works as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_snippet_opens_the_default_journal(real_study: dict[str, str]) -> None:
    section = README.read_text().split("### From Python", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    # the session's study instead of the README's: its journal and its name
    assert '"mlruns/optuna.journal"' in code and '"digits-cnn"' in code
    code = code.replace('"mlruns/optuna.journal"', repr(real_study["storage"]))
    code = code.replace('"digits-cnn"', '"tiny"')
    out = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), namespace)  # the README's own code
    frame = namespace["frame"]
    assert "value_val_accuracy" in frame.columns  # type: ignore[attr-defined]
    assert len(frame) == 3  # type: ignore[arg-type]
    assert out.getvalue().splitlines()[0].startswith(str(namespace["study"].best_trial.number))  # type: ignore[attr-defined]
