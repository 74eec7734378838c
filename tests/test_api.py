"""orchestrator/__init__.py: the public API resolves, and importing the package stays cheap."""

from __future__ import annotations

import subprocess
import sys

import orchestrator


def test_every_public_name_resolves() -> None:
    for name in orchestrator.__all__:
        # each name is a real object of the package that holds it
        assert getattr(orchestrator, name) is not None, name


def test_importing_the_package_imports_nothing_heavy() -> None:
    code = (
        "import sys, orchestrator; "
        "print(sorted(m for m in ('torch', 'optuna', 'mlflow', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
