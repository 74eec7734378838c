"""orchestrator/cli/submit.py: `hpo submit` makes the study ready, then submits (or prints) a job
of `hpo worker`s. The real Slurm test needs a cluster that takes jobs (``.ci/start-slurm``) and
PostgreSQL; outside CI it skips (with the reason) without them, in CI it must run."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from tests.helpers import mlflow_runs, rendezvous_space, study_trials

SENTINEL = "SENTINEL-pw-7d21ab"  # trust auth accepts any password: it must never be written
JOB_SECONDS = 300  # for the real Slurm job to end


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The test's own PostgreSQL database, as a URL with a sentinel password."""
    return pg_database.replace("postgres@", f"postgres:{SENTINEL}@", 1)


@pytest.fixture
def fake_sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``sbatch`` first on PATH that records its arguments and HPO_STORAGE (into
    ``calls.jsonl``, beside it) and answers as ``sbatch --parsable`` does; it refuses jobs
    for the partition ``nope`` as Slurm does."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    calls = bin_dir / "calls.jsonl"
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps({{'argv': sys.argv[1:], "
        "'storage': os.environ.get('HPO_STORAGE'), "
        "'script': open(sys.argv[-1]).read()}) + '\\n')\n"
        "if '--partition=nope' in open(sys.argv[-1]).read():\n"
        "    sys.exit('sbatch: error: invalid partition specified: nope')\n"
        "print('4242;cluster')\n"
    )
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


def _submit(stores: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            *("submit", "--workers", "2", "--storage", stores["storage"]),
            *("--tracking-uri", stores["tracking_uri"], *args),
        ],
    )


def _calls(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for_job(job_id: str) -> None:
    deadline = time.monotonic() + JOB_SECONDS
    while time.monotonic() < deadline:
        queued = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%i %T"], capture_output=True, text=True
        )
        if queued.returncode == 0 and not queued.stdout.strip():
            return
        time.sleep(2)
    subprocess.run(["scancel", job_id], check=False)
    raise AssertionError(f"Slurm job {job_id} did not end in {JOB_SECONDS} s")


def test_a_slurm_job_runs_the_study_to_its_exact_budget(
    slurm: None, workdir: Path, stores: dict[str, str], pg_url: str
) -> None:
    # each worker's first trial waits until both have one: both array tasks take part
    space = rendezvous_space(workdir, parties=2)
    logs = workdir / "logs"
    result = _submit(
        {**stores, "storage": pg_url},
        *("--slurm", "--space", str(space), "--n-trials", "6", "--log-dir", str(logs)),
    )
    assert result.exit_code == 0, result.output
    job_id = re.search(r"Submitted Slurm job (\d+): 2 workers \(array 0-1\)", result.output)
    assert job_id, result.output
    _wait_for_job(job_id.group(1))
    outputs = [logs / f"slurm-{job_id.group(1)}_{task}.out" for task in (0, 1)]
    said = "\n".join(path.read_text() for path in outputs)
    # exactly the budget: 6 finished trials, unique numbers, from both workers
    trials = study_trials(pg_url, "tiny")
    assert sorted(t.number for t in trials) == list(range(6)), said
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert len({t.system_attrs["hpo.worker"]["pid"] for t in trials}) == 2
    # one log per task, each worker's lines labelled by its index, each stopped by the budget
    for task, path in enumerate(outputs):
        text = path.read_text()
        assert f"[w{task}] trial" in text and "stopped by budget" in text, text
    # the 6 trial runs under the one parent run submit made, which the last worker ended
    runs = mlflow_runs(stores["tracking_uri"], "tiny")
    parents = [r for r in runs if r.data.tags["hpo.role"] == "study"]
    children = [r for r in runs if r.data.tags["hpo.role"] == "trial"]
    assert len(parents) == 1 and len(children) == 6
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert all(r.info.status == "FINISHED" for r in runs)
    # the password reached the workers through the environment only
    script = (logs / "hpo-tiny.sbatch").read_text()
    assert ': "${HPO_STORAGE:?' in script
    for text in (script, said, result.output):
        assert SENTINEL not in text


def test_secrets_reach_sbatch_through_its_environment_only(
    workdir: Path, tiny_space: Path, stores: dict[str, str], pg_url: str, fake_sbatch: Path
) -> None:
    result = _submit(
        {**stores, "storage": pg_url},
        *("--slurm", "--space", str(tiny_space), "--n-trials", "3", "--time", "2h"),
    )
    assert result.exit_code == 0, result.output
    assert "Submitted Slurm job 4242: 2 workers (array 0-1) of study 'tiny'" in result.output
    assert f"logs:   {workdir}/slurm-4242_%a.out" in result.output
    [call] = _calls(fake_sbatch)
    # the job's environment holds the URL whole; the command line and the script do not
    assert call["storage"] == pg_url
    assert call["argv"] == ["--parsable", str(workdir / "hpo-tiny.sbatch")]
    assert call["script"] == (workdir / "hpo-tiny.sbatch").read_text()
    assert "#SBATCH --time=2:00:00" in call["script"]
    for text in (call["script"], " ".join(call["argv"]), result.output):
        assert SENTINEL not in text
    # the study is ready before any worker starts: its budget stored, its parent run waiting
    assert study_trials(pg_url, "tiny") == []
    [parent] = mlflow_runs(stores["tracking_uri"], "tiny")
    assert parent.info.status == "SCHEDULED"
    assert "Study 'tiny': 0/3 trials finished; storage postgresql://postgres:***@" in result.output


def test_print_gives_the_script_alone_on_stdout_and_submits_nothing(
    workdir: Path, tiny_space: Path, stores: dict[str, str], fake_sbatch: Path
) -> None:
    result = _submit(stores, "--slurm", "--space", str(tiny_space), "--print")
    assert result.exit_code == 0, result.output
    # stdout is a script to keep (> job.sbatch); what hpo says is on stderr
    assert result.stdout.startswith("#!/bin/bash\n")
    assert (
        result.stdout.rstrip()
        .splitlines()[-1]
        .endswith("worker --study tiny --threads 1 --device cpu")
    )
    assert f"export HPO_STORAGE={stores['storage']}\n" in result.stdout
    assert "Submit it with: sbatch FILE" in result.stderr
    assert _calls(fake_sbatch) == []
    # the study exists for the printed job's workers to join
    assert study_trials(stores["storage"], "tiny") == []
    # and a second submit of it, without the space, joins it and sets its budget
    again = _submit(stores, "--slurm", "--study", "tiny", "--n-trials", "5")
    assert again.exit_code == 0, again.output
    assert "Study 'tiny': 0/5 trials finished" in again.output
    assert len(_calls(fake_sbatch)) == 1


def test_a_study_at_its_budget_submits_nothing(
    real_study: dict[str, str], fake_sbatch: Path
) -> None:
    result = _submit(real_study, "--slurm", "--study", "tiny")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == [
        "Study 'tiny' has reached its budget: 3/3 trials finished. To run more, raise its "
        "total: hpo submit --slurm --workers 2 --study tiny --n-trials 4"
    ]
    assert _calls(fake_sbatch) == []


def test_sbatch_missing_is_one_line_and_leaves_the_storage_alone(
    workdir: Path, tiny_space: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(workdir / "empty"))
    result = _submit(stores, "--slurm", "--space", str(tiny_space))
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "Error: sbatch is not on PATH: run hpo submit --slurm where Slurm's commands are (a "
        "login node), or add --print and submit the script with sbatch yourself"
    ]
    assert not Path(stores["storage"]).exists()  # checked before the study was made


def test_sbatch_refusing_the_job_is_one_line(
    workdir: Path, tiny_space: Path, stores: dict[str, str], fake_sbatch: Path
) -> None:
    result = _submit(stores, "--slurm", "--space", str(tiny_space), "--partition", "nope")
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == (
        "Error: sbatch refused the job: sbatch: error: invalid partition specified: nope "
        f"(script: {workdir}/hpo-tiny.sbatch)"
    )


def test_kubernetes_prints_an_indexed_job(
    tiny_space: Path, stores: dict[str, str], pg_url: str
) -> None:
    pg_stores = {**stores, "storage": pg_url}
    made = _submit(pg_stores, "--slurm", "--space", str(tiny_space), "--print")
    assert made.exit_code == 0, made.output
    result = _submit(
        pg_stores,
        *("--kubernetes", "--study", "tiny", "--n-trials", "4", "--image", "reg.example/hpo:1"),
        *("--gpus-per-worker", "1", "--secret", "stores"),
    )
    assert result.exit_code == 0, result.output
    manifest = yaml.safe_load(result.stdout)
    assert manifest["kind"] == "Job" and manifest["spec"]["completionMode"] == "Indexed"
    assert manifest["spec"]["completions"] == manifest["spec"]["parallelism"] == 2
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reg.example/hpo:1"
    assert container["command"] == [
        *("hpo", "worker", "--study", "tiny", "--threads", "1", "--device", "cuda")
    ]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    storage = next(e for e in container["env"] if e["name"] == "HPO_STORAGE")
    assert storage["valueFrom"]["secretKeyRef"] == {"name": "stores", "key": "HPO_STORAGE"}
    assert "kubectl create secret generic stores" in result.stderr
    assert SENTINEL not in result.output
    # the budget was stored for the pods' workers to obey
    assert "Study 'tiny': 0/4 trials finished" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--study", "tiny"], "Error: give --slurm (an sbatch array job, submitted) or"),
        (["--slurm", "--kubernetes", "--study", "tiny"], "manifest, printed), not both"),
        (
            ["--slurm", "--study", "tiny", "--image", "hpo"],
            "Error: --image is an option of --kubernetes; this job is for --slurm",
        ),
        (
            ["--kubernetes", "--study", "tiny", "--partition", "gpu"],
            "Error: --partition is an option of --slurm; this job is for --kubernetes",
        ),
        (
            ["--slurm"],
            "Error: --study: name the study the workers join (it must exist in the storage), or "
            "give --space FILE to create it",
        ),
        (["--slurm", "--study", "tiny", "--set", "train.epochs=2"], "Error: --set changes a"),
        (["--slurm", "--study", "tiny", "--gpus-per-worker", "2"], "Error: --gpus-per-worker 2"),
        (["--slurm", "--study", "tiny", "--time", "60"], "'60' has no unit (Slurm reads it as"),
        (
            ["--slurm", "--study", "tiny", "--sbatch-option=--array=0-9"],
            "Error: --sbatch-option '--array=0-9': hpo submit writes --array itself; use --workers",
        ),
        (["--kubernetes", "--study", "tiny"], "Error: --kubernetes needs --image: a container"),
        (
            ["--kubernetes", "--study", "tiny", "--image", "hpo"],
            "Error: --kubernetes: the storage",
        ),
        (["--slurm", "--study", "nowhere", "--print"], "Error: no study named 'nowhere' in"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    stores: dict[str, str], args: list[str], message: str
) -> None:
    result = _submit(stores, *args)
    # exit 2, no traceback, the message naming what was given
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
