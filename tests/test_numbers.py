"""orchestrator/numbers.py: four significant digits wherever hpo shows a number."""

from __future__ import annotations

import math
import re

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.numbers import fmt_number, rounded, significant


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.974074074074, "0.9741"),
        (0.8, "0.8000"),  # trailing zeros kept: a column of metrics lines up
        (1.0, "1.000"),
        (0.000316227766, "0.0003162"),
        (2.56e-05, "2.560e-05"),
        (58.9734, "58.97"),
        (12345.6, "12346"),  # a price: whole, not 1.235e+04
        (36922, "36922"),  # an int as it is
        (None, "-"),
        (float("nan"), "nan"),
        ("adamw", "adamw"),
        (True, "True"),
    ],
)
def test_fmt_number(value: object, text: str) -> None:
    assert fmt_number(value) == text


def test_rounded_keeps_what_decides_predictions() -> None:
    values = {"val_f1": 0.876543219, "val_threshold": 0.4372619, "epochs": 3}
    assert rounded(values, keep=["val_threshold"]) == {
        "val_f1": 0.8765,
        "val_threshold": 0.4372619,
        "epochs": 3,
    }
    assert significant(0.0) == 0.0 and math.isinf(significant(math.inf))


def _digits(number: str) -> int:
    """Significant digits of a number as printed."""
    mantissa = number.lower().split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(mantissa)


def test_best_and_the_optuna_attributes_read_at_four_digits(real_study: dict[str, str]) -> None:
    from orchestrator.study import load_study

    args = ["--storage", real_study["storage"], "--tracking-uri", real_study["tracking_uri"]]
    result = CliRunner().invoke(cli, ["best", "--study", "tiny", *args])
    assert result.exit_code == 0, result.output
    floats = re.findall(r"[=\s]-?\d+\.\d+(?:e[-+]\d+)?", result.output)
    assert floats, result.output
    assert max(_digits(f.strip("= ")) for f in floats) <= 4, result.output
    # JSON keeps every digit for programs
    full = CliRunner().invoke(cli, ["best", "--study", "tiny", "--json", *args])
    assert any(_digits(f) > 4 for f in re.findall(r"\d+\.\d+", full.output))
    # what optuna-dashboard shows of a trial: its best epoch's metrics at 4 digits
    for trial in load_study("tiny", storage=real_study["storage"]).trials:
        for key, value in trial.user_attrs["best_metrics"].items():
            assert value == significant(value), (key, value)
