"""The ``hpo`` command line: a thin Click layer over :mod:`orchestrator.study` and its neighbours.

The only module that prints or sets exit codes. Exit codes: 0 success; 1 a runtime failure
(including a run stopped by repeated trial failures); 2 bad input (a space file, data, an option);
130 interrupted by Ctrl-C; 143 stopped by SIGTERM. Every study survives all of them and resumes
with the same command.
"""

from __future__ import annotations

from orchestrator.cli._app import cli, main

__all__ = ["cli", "main"]
