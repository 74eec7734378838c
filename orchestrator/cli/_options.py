"""Option groups and parameter types shared by the commands."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import click


class DurationType(click.ParamType):
    """A duration option: 90s, 30m, 8h, 1h30m or plain seconds; converted to seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        from orchestrator.durations import parse_duration

        if isinstance(value, float):
            return value
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = DurationType()


def _resolve_store(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``--storage`` (or $HPO_STORAGE) resolved and validated once into a StudyStore; a bad URL
    is one line that names where it came from (exit 2)."""
    from click.core import ParameterSource

    from orchestrator.storage import STORAGE_ENV
    from orchestrator.study import StudyStore

    source = ctx.get_parameter_source(param.name or "storage")
    where = STORAGE_ENV if source == ParameterSource.ENVIRONMENT else "--storage"
    return StudyStore.resolve(value, source=where if value else None)


storage_option = click.option(
    "--storage",
    envvar="HPO_STORAGE",
    default=None,
    metavar="URL",
    callback=_resolve_store,
    help="Optuna storage: a journal file path or a database URL (postgresql://...). "
    "Default: mlruns/optuna.journal. Env: HPO_STORAGE.",
)


tracking_option = click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    default=None,
    metavar="URI",
    help="MLflow tracking URI. Default: MLflow's own (sqlite:///mlflow.db here). "
    "Env: MLFLOW_TRACKING_URI.",
)


def _complete_study(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of ``--study``: the studies of the storage given so far (or the
    default); none when it cannot be read."""
    from click.shell_completion import CompletionItem

    from orchestrator.study import StudyStore

    try:
        store = StudyStore.of(ctx.params.get("storage"))
        names = store.study_names()
    except Exception:  # completion never fails loudly
        return []
    return [CompletionItem(name) for name in sorted(names) if name.startswith(incomplete)]


study_option = click.option(
    "--study",
    "study_name",
    metavar="NAME",
    shell_complete=_complete_study,
    help="Study name (default: the space's).",
)
required_study_option = click.option(
    "--study",
    "study_name",
    required=True,
    metavar="NAME",
    shell_complete=_complete_study,
    help="Study name.",
)


def _check_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--device`` (or $HPO_DEVICE) checked for its form at once, naming where it came from."""
    from click.core import ParameterSource

    from orchestrator.device import check_device_form

    from_env = ctx.get_parameter_source(param.name or "device") == ParameterSource.ENVIRONMENT
    check_device_form(value, source="HPO_DEVICE" if from_env else "--device")
    return value


device_option = click.option(
    "--device",
    envvar="HPO_DEVICE",
    default="auto",
    show_default=True,
    callback=_check_device,
    help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps. Env: HPO_DEVICE.",
)


def space_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--space FILE`` (Click reports a missing file) and repeatable ``--set KEY=VALUE``."""
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a value of the space, e.g. --set train.epochs=2 (repeatable).",
    )(func)
    return click.option(
        "--space",
        "space_path",
        required=True,
        type=click.Path(exists=True, dir_okay=False),
        help="Search-space YAML file.",
    )(func)


# the options of run_options, as the command line names them
RUN_OPTIONS = (
    "n_trials",
    "timeout",
    "until",
    "trial_timeout",
    "max_failures",
    "device",
    "threads",
    "storage",
    "tracking_uri",
)


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by `hpo run` and `hpo worker` (budget, limits, device, stores), passed to
    the command as one :class:`~orchestrator.study.RunSpec` argument named ``spec``, its study
    name left for the command to fill in (``spec.replace(study_name=...)``): the one shape of a
    run's options, with its defaults in one place."""

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        from orchestrator.study import RunSpec

        given = {name: kwargs.pop(name) for name in RUN_OPTIONS}
        until = given.pop("until")
        spec = RunSpec(
            study_name="",
            store=given.pop("storage"),
            until=_parse_until(until) if until else None,
            **{k: v for k, v in given.items() if k != "threads"},
            threads=given["threads"],
        )
        return func(*args, spec=spec, **kwargs)

    options = [
        click.option(
            "--n-trials", type=click.IntRange(min=1), help="The study's total of finished trials."
        ),
        click.option(
            "--timeout",
            type=DURATION,
            help="This process starts no new trial after this long: 90s, 30m, 8h.",
        ),
        click.option(
            "--until",
            metavar="HH:MM",
            help="Deadline for this process, local time (next occurrence): start no trial that "
            "cannot finish by then; stop trials still running at it.",
        ),
        click.option(
            "--trial-timeout", type=DURATION, help="Fail a trial that runs longer (reason timeout)."
        ),
        click.option(
            "--max-failures",
            type=click.IntRange(min=1),
            help="Consecutive failed trials that stop the run (default: study.max_failures, 5).",
        ),
        device_option,
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            default=None,
            help="CPU threads for training. Default: the cores divided among the workers.",
        ),
        storage_option,
        tracking_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


allow_remote_option = click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other than loopback: the UI has no authentication.",
)


allowed_host_option = click.option(
    "--allowed-host",
    "extra_hosts",
    multiple=True,
    metavar="NAME[:PORT]",
    help="Another Host header to accept, e.g. the name the UI is reached by (repeatable).",
)


def bind_options(
    *, port: int, host_headers: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--host`` (loopback by default), ``--port``, ``--allow-remote`` and ``--allowed-host``
    (not for a server that reads no Host header: ``host_headers=False``): the options of every
    server hpo starts."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(
            [
                click.option(
                    "--host",
                    default="127.0.0.1",
                    show_default=True,
                    help="Address to bind; any but loopback needs --allow-remote.",
                ),
                click.option(
                    "--port",
                    default=port,
                    show_default=True,
                    type=click.IntRange(1, 65535),
                    help="Port.",
                ),
                allow_remote_option,
                *([allowed_host_option] if host_headers else []),
            ]
        ):
            func = option(func)
        return func

    return decorate


def _parse_until(text: str, *, now: float | None = None) -> float:
    """``HH:MM`` or ``HH:MM:SS`` local time -> epoch seconds of its next occurrence."""
    import datetime as dt

    try:
        parts = [int(p) for p in text.split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        clock = dt.time(*parts)
    except (ValueError, TypeError):
        raise click.BadParameter(
            f"expected a local time HH:MM or HH:MM:SS such as 06:30, got {text!r}",
            param_hint="--until",
        ) from None
    current = dt.datetime.fromtimestamp(time.time() if now is None else now)
    target = dt.datetime.combine(current.date(), clock)
    if target <= current:
        target += dt.timedelta(days=1)
    return target.timestamp()


def _load_space(path: str, overrides: tuple[str, ...]) -> Any:
    from orchestrator.space import load_space

    return load_space(path, overrides=overrides)
