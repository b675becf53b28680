"""``benchmarks.json`` (platform guidebook, 7.1.1) and measurement reports (7.1.2): read and check them.

The guidebook's format is a list of ``{"model": {"name", "description"}, "tasks": [{"name", "command"}]}``.
Real benchmark repositories add fields: a task's ``target`` (the platforms it is meant for, e.g.
``["SpiNNaker", "BrainScaleS"]`` in CNRS-UNIC/hardware-benchmarks) and ``config`` (per platform settings such
as ``extra_pip_installs``).  Both are honoured; any other unknown field is a warning, never an error, so a
repository written for a newer platform still runs.  Everything that can be checked is checked before
anything is queued: one line naming the model/task and field, exit code 2.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from nmcluster.errors import UserInputError

MAX_FILE = 1 << 20  # a benchmarks.json or report larger than 1 MiB is refused before parsing
_MODEL_KEYS = {"name", "description"}
_TASK_KEYS = {"name", "command", "target", "config"}
_CONFIG_KEYS = {"extra_pip_installs"}


class Task(NamedTuple):
    name: str
    command: str
    target: tuple[str, ...] = ()  # partition kinds; () = every chosen platform
    config: Mapping[str, Mapping[str, Any]] = {}  # partition kind -> settings


class Model(NamedTuple):
    name: str
    description: str
    tasks: tuple[Task, ...]


class Planned(NamedTuple):
    """One task on one platform: what becomes one nmcluster job."""

    model: str
    task: str
    platform: str
    command: str
    extra_pip_installs: tuple[str, ...] = ()


class BenchmarksError(UserInputError):
    """``benchmarks.json`` or a report is malformed (exit 2)."""


def _text(where: str, value: Any, limit: int = 1000) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BenchmarksError(f"benchmarks.json: {where} must be a non-empty string of at most {limit} characters")
    return value


def load(path: Path, warn=None) -> list[Model]:
    """Parse and check ``<repo>/benchmarks.json``.  ``warn(message)`` receives the warnings."""
    from nmcluster.jobs.spec import normalise_platform

    warn = warn or (lambda _msg: None)
    try:
        if path.stat().st_size > MAX_FILE:
            raise BenchmarksError(f"{path} is larger than {MAX_FILE >> 20} MiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchmarksError(f"no benchmarks.json at the top level of the source ({path.parent})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarksError(f"cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise BenchmarksError(f"benchmarks.json is not valid JSON: {str(exc).split(';')[0]}") from None
    except RecursionError:
        raise BenchmarksError("benchmarks.json is nested too deeply") from None
    if not isinstance(data, list) or not data:
        raise BenchmarksError("benchmarks.json must be a non-empty list of {model, tasks} entries")
    models: list[Model] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise BenchmarksError(f"benchmarks.json: entry {i} must be an object with model and tasks")
        for key in sorted(set(entry) - {"model", "tasks"}):
            warn(f"benchmarks.json: entry {i}: unknown field {key!r} ignored")
        model = entry.get("model")
        if not isinstance(model, dict):
            raise BenchmarksError(f"benchmarks.json: entry {i} needs a model object with a name")
        name = _text(f"entry {i} model.name", model.get("name"), 200)
        for key in sorted(set(model) - _MODEL_KEYS):
            warn(f"benchmarks.json: model {name}: unknown field {key!r} ignored")
        tasks_in = entry.get("tasks")
        if not isinstance(tasks_in, list) or not tasks_in:
            raise BenchmarksError(f"benchmarks.json: model {name} needs a non-empty list of tasks")
        tasks: list[Task] = []
        for j, t in enumerate(tasks_in):
            if not isinstance(t, dict):
                raise BenchmarksError(f"benchmarks.json: model {name} task {j} must be an object")
            tname = _text(f"model {name} task {j} name", t.get("name"), 200)
            command = _text(f"model {name} task {tname} command", t.get("command"), 4000)
            for key in sorted(set(t) - _TASK_KEYS):
                warn(f"benchmarks.json: task {name}/{tname}: unknown field {key!r} ignored")
            target_in = t.get("target", [])
            if isinstance(target_in, str):
                target_in = [target_in]
            if not isinstance(target_in, list) or not all(isinstance(x, str) for x in target_in):
                raise BenchmarksError(f"benchmarks.json: task {name}/{tname}: target must be a list of platform names")
            try:
                target = tuple(dict.fromkeys(normalise_platform(x) for x in target_in))
            except UserInputError as exc:
                raise BenchmarksError(f"benchmarks.json: task {name}/{tname}: {exc}") from None
            config = _config(f"task {name}/{tname}", t.get("config", {}), warn)
            if (name, tname) in seen:
                raise BenchmarksError(f"benchmarks.json: task {name}/{tname} is defined twice")
            seen.add((name, tname))
            tasks.append(Task(tname, command, target, config))
        models.append(Model(name, str(model.get("description", "")), tuple(tasks)))
    return models


def _config(where: str, value: Any, warn) -> dict[str, dict[str, Any]]:
    from nmcluster.jobs.spec import normalise_platform

    if not isinstance(value, dict):
        raise BenchmarksError(f"benchmarks.json: {where}: config must be an object of platform -> settings")
    out: dict[str, dict[str, Any]] = {}
    for platform, settings in value.items():
        try:
            kind = normalise_platform(platform)
        except UserInputError as exc:
            raise BenchmarksError(f"benchmarks.json: {where}: config: {exc}") from None
        if not isinstance(settings, dict):
            raise BenchmarksError(f"benchmarks.json: {where}: config.{platform} must be an object")
        for key in sorted(set(settings) - _CONFIG_KEYS):
            warn(f"benchmarks.json: {where}: config.{platform}.{key} is not supported here, ignored")
        pips = settings.get("extra_pip_installs", [])
        if not isinstance(pips, list) or not all(isinstance(p, str) and p.strip() for p in pips):
            raise BenchmarksError(f"benchmarks.json: {where}: extra_pip_installs must be a list of package names")
        out[kind] = {"extra_pip_installs": tuple(p.strip() for p in pips)}
    return out


def plan(models: Sequence[Model], platforms: Sequence[str], model: str | None = None,
         task: str | None = None, site=None) -> list[Planned]:
    """Every (task, platform) to run.  ``platforms`` (partition kinds) empty: each task's own ``target``.

    Refused before anything is queued: an unknown ``--model``/``--task``, a task that no chosen platform
    may run (its ``target`` or its ``{system=...}`` excludes them all), a command with unknown placeholders."""
    from nmcluster.jobs.spec import system_restrictions

    chosen = [m for m in models if model in (None, m.name)]
    if not chosen:
        raise BenchmarksError(f"no model {model!r} in benchmarks.json (models: {', '.join(m.name for m in models)})")
    out: list[Planned] = []
    matched = False
    for m in chosen:
        for t in m.tasks:
            if task not in (None, t.name):
                continue
            matched = True
            kinds = list(platforms) or list(t.target)
            if not kinds:
                raise BenchmarksError(f"task {m.name}/{t.name} has no target: choose platforms with -p")
            if platforms and t.target:
                kinds = [k for k in kinds if k in t.target] or kinds  # -p wins, but say so below
            runnable = []
            for kind in kinds:
                if _allowed(t.command, kind, site):
                    runnable.append(kind)
            if not runnable:
                restr = [r for r in system_restrictions(t.command) if r]
                raise BenchmarksError(f"task {m.name}/{t.name}: {{system={','.join(restr[0]) if restr else ''}}} "
                                      f"allows none of the chosen platforms ({', '.join(kinds)})")
            for kind in runnable:
                pips = tuple(t.config.get(kind, {}).get("extra_pip_installs", ()))
                out.append(Planned(m.name, t.name, kind, t.command, pips))
    if not matched:
        raise BenchmarksError(f"no task {task!r} in the chosen models")
    return out


def _allowed(command: str, kind: str, site) -> bool:
    """Can ``{system=...}`` in ``command`` be satisfied on partition ``kind`` (hardware or an emulator)?"""
    from nmcluster.jobs.spec import system_restrictions

    restrictions = [r for r in system_restrictions(command) if r]
    if not restrictions:
        return True
    if site is None:
        return True
    part = site.partition(kind)
    names = set(part.backends)
    aliases = {n.lower() for n in names} | {n.split(".")[-1].lower() for n in names}
    return all(any(x.lower() in aliases for x in r) for r in restrictions)


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    return json.loads((Path(__file__).with_name("report.schema.json")).read_text())


def check_report(data: Any, model: str, task: str, where: str) -> tuple[dict[str, Any], list[str]]:
    """Validate one measurement report against the guidebook's schema (``report.schema.json``): the report
    with ``model``/``task`` filled in where it lacks them, and warnings.  A bad report is one
    :class:`BenchmarksError` naming the file and the field."""
    import jsonschema

    warnings: list[str] = []
    errors = sorted(jsonschema.Draft202012Validator(report_schema()).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        field = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise BenchmarksError(f"{where}: {field}: {err.message[:200]}")
    for i, r in enumerate(data["results"]):
        for key in ("value", "std_dev", "min", "max"):
            if key in r and not math.isfinite(float(r[key])):
                raise BenchmarksError(f"{where}: results/{i}/{key}: {r[key]} is not a finite number")
    for key, expected in (("model", model), ("task", task)):
        if key not in data:
            warnings.append(f"{where}: no {key!r} field (the guidebook requires it); taken from benchmarks.json")
            data = {**data, key: expected}
        elif data[key] != expected:
            raise BenchmarksError(f"{where}: {key} is {data[key]!r}, but the task is {model}/{task}")
    return data, warnings


def read_report(path: Path) -> Any:
    """A report file's JSON (size-capped; NaN/Infinity refused as not JSON)."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise BenchmarksError(f"{path.name}: report larger than {MAX_FILE >> 20} MiB")

        def _no_constants(name: str) -> Any:
            raise ValueError(f"{name} is not a JSON number")

        return json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constants)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BenchmarksError(f"{path.name}: not a readable JSON report ({str(exc).split(';')[0][:200]})") from None
