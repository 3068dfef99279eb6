"""A small step runner with content-addressed caching (no workflow engine needed).

Each :class:`Step` names its config section, the cardlens source files it runs (its code version),
the packages whose versions matter, any other inputs, and the steps it depends on. Its **key** is the
sha256 of all of that plus the *digests of its upstream steps' outputs* (every output file's sha256),
so:

- re-running with nothing changed finds ``<root>/<step>/<key>/done.json`` for every step: no work;
- changing one step's config (or code) changes its key: it runs again, and its dependents run again
  only if its outputs changed (a deterministic data step that renders the same bytes leaves training
  alone);
- ``done.json`` is written last, atomically: a step that failed or was interrupted leaves a folder
  without it, the earlier steps stay cached, and the next run starts again at that step (steps marked
  ``resumable`` keep their partial folder and skip the sub-tasks they finished).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardlens.errors import CardlensError, UsageError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DONE = "done.json"


class StepFailed(CardlensError):
    """A step raised; earlier steps' results are kept and the next run resumes at this step."""

    def __init__(self, step: str, cause: BaseException, folder: Path):
        self.step, self.cause, self.folder = step, cause, folder
        super().__init__(f"pipeline step '{step}' failed: {type(cause).__name__}: {cause} "
                         f"(earlier steps are kept; run the pipeline again to resume at '{step}'; "
                         f"partial output in {folder})")


def canonical(obj: Any) -> str:
    """Deterministic JSON for hashing (sorted keys, no whitespace, paths as strings)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_digest(patterns: Iterable[str], root: Path | None = None) -> dict[str, str]:
    """sha256 per source file matched by ``patterns`` (globs relative to the cardlens package).

    A pattern that matches nothing is an error: a renamed module must not silently drop out of the key.
    """
    root = PACKAGE_ROOT if root is None else root
    out: dict[str, str] = {}
    for pattern in patterns:
        matches = sorted(p for p in root.glob(pattern) if p.is_file() and "__pycache__" not in p.parts)
        if not matches:
            raise UsageError(f"pipeline code pattern {pattern!r} matches no file under {root}")
        for p in matches:
            out[str(p.relative_to(root))] = sha256_file(p)
    return dict(sorted(out.items()))


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def hash_tree(folder: Path, skip: tuple[str, ...] = (DONE, "*.tmp")) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative POSIX names), except ``skip`` globs."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not any(fnmatch.fnmatch(rel, s) for s in skip):
            out[rel] = sha256_file(p)
    return out


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


@dataclass(frozen=True)
class StepResult:
    name: str
    key: str
    folder: Path
    outputs: dict
    digest: str            # sha256 over outputs + every output file's sha256: what dependents hash
    status: str            # "cached" | "ran"
    seconds: float

    def path(self, rel: str | os.PathLike) -> Path:
        return self.folder / rel


@dataclass(frozen=True)
class StepContext:
    """What a step's ``run`` gets: its config section, its folder, its upstream results."""

    name: str
    key: str
    out: Path
    config: Any
    full_config: Mapping
    inputs: Mapping[str, StepResult]
    partial: bool          # the folder holds an earlier, unfinished attempt (resumable steps only)
    env: Mapping[str, Any]
    log: Callable[[str], None]


@dataclass(frozen=True)
class Step:
    """One unit of work. ``run(ctx) -> dict`` writes its files under ``ctx.out`` and returns a
    JSON-serialisable description (paths relative to ``ctx.out``); its ``"volatile"`` entry (timings)
    is kept in ``done.json`` but left out of the digest that dependents hash."""

    name: str
    run: Callable[[StepContext], dict]
    deps: tuple[str, ...] = ()
    config: Callable[[Mapping], Any] = lambda cfg: None
    code: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    # (config, env, upstream results) -> extra key material (state outside the config: a data set on
    # disk, the production models in a registry…)
    inputs: Callable[[Mapping, Mapping, Mapping[str, StepResult]], Any] | None = None
    resumable: bool = False
    description: str = ""


@dataclass(frozen=True)
class PipelineRun:
    root: Path
    results: dict[str, StepResult]
    order: tuple[str, ...]
    seconds: float
    record: Path | None = None
    failed: str | None = None
    statuses: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"root": str(self.root), "seconds": round(self.seconds, 2), "failed": self.failed,
                "steps": [{"step": n, "status": self.statuses.get(n, "not run"),
                           **({"key": self.results[n].key[:16], "folder": str(self.results[n].folder),
                               "seconds": round(self.results[n].seconds, 2)} if n in self.results else {})}
                          for n in self.order],
                "record": str(self.record) if self.record else None}


def _check_graph(steps: list[Step]) -> None:
    seen: set[str] = set()
    for s in steps:
        if s.name in seen:
            raise UsageError(f"pipeline step {s.name!r} is defined twice")
        for d in s.deps:
            if d not in seen:
                raise UsageError(f"pipeline step {s.name!r} depends on {d!r}, which is not an earlier step")
        seen.add(s.name)


def step_key(step: Step, config: Mapping, env: Mapping, upstream: Mapping[str, StepResult]) -> tuple[str, dict]:
    material = {
        "step": step.name,
        "config": step.config(config),
        "code": code_digest(step.code),
        "packages": package_versions(step.packages),
        "inputs": step.inputs(config, env, {d: upstream[d] for d in step.deps}) if step.inputs else None,
        "upstream": {d: upstream[d].digest for d in step.deps},
    }
    return sha256_text(canonical(material)), material


def _done_is_valid(folder: Path) -> dict | None:
    done = folder / DONE
    if not done.is_file():
        return None
    try:
        record = json.loads(done.read_text())
    except (OSError, ValueError):
        return None
    for rel, _sha in record.get("artifacts", {}).items():  # files deleted by hand: run again
        if not (folder / rel).is_file():
            return None
    return record


class _Lock:
    """One pipeline at a time per data folder (fcntl where available)."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "w")
        try:
            import fcntl

            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.fh.close()
                raise CardlensError(f"another pipeline run holds {self.path}; wait for it to finish") from None
        except ImportError:  # pragma: no cover (Windows)
            pass
        return self

    def __exit__(self, *exc):
        self.fh.close()


def run_steps(steps: list[Step], config: Mapping, root: str | Path, force: Iterable[str] = (),
              env: Mapping[str, Any] | None = None, log: Callable[[str], None] = print,
              until: str | None = None) -> PipelineRun:
    """Run ``steps`` in order with caching under ``root``. ``force``: step names (or ``"all"``) to
    run again even when cached. ``until``: stop after this step. Raises :class:`StepFailed`."""
    _check_graph(steps)
    names = [s.name for s in steps]
    force = set(force)
    unknown = force - set(names) - {"all"}
    if unknown:
        raise UsageError(f"--force: no step named {', '.join(sorted(unknown))} (steps: {', '.join(names)})")
    if until is not None and until not in names:
        raise UsageError(f"--until: no step named {until!r} (steps: {', '.join(names)})")
    root = Path(root)
    env = dict(env or {})
    results: dict[str, StepResult] = {}
    statuses: dict[str, str] = {}
    t_start = time.perf_counter()
    failed = None
    with _Lock(root / ".lock"):
        try:
            for step in steps:
                key, material = step_key(step, config, env, results)
                folder = root / step.name / key[:16]
                record = None if (step.name in force or "all" in force) else _done_is_valid(folder)
                if record is not None:
                    results[step.name] = StepResult(step.name, key, folder, record["outputs"], record["digest"],
                                                    "cached", 0.0)
                    statuses[step.name] = "cached"
                    log(f"[{step.name}] cached ({key[:12]})")
                else:
                    results[step.name] = _execute(step, key, material, folder, config, env, results, log,
                                                  forced=step.name in force or "all" in force)
                    statuses[step.name] = "ran"
                if step.name == until:
                    break
        except StepFailed as exc:
            failed = exc.step
            statuses[exc.step] = "failed"
            _write_record(root, steps, results, statuses, time.perf_counter() - t_start, failed)
            raise
    seconds = time.perf_counter() - t_start
    record_path = _write_record(root, steps, results, statuses, seconds, failed)
    return PipelineRun(root, results, tuple(names), seconds, record_path, failed, statuses)


def _execute(step: Step, key: str, material: dict, folder: Path, config: Mapping, env: Mapping,
             results: Mapping[str, StepResult], log, forced: bool) -> StepResult:
    partial = folder.exists()
    if partial and (forced or not step.resumable):
        shutil.rmtree(folder)
        partial = False
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DONE).unlink(missing_ok=True)
    write_json_atomic(folder / "inputs.json", {"step": step.name, "key": key, **material})
    log(f"[{step.name}] running ({key[:12]}{', resuming' if partial else ''})")
    ctx = StepContext(step.name, key, folder, step.config(config), config,
                      {d: results[d] for d in step.deps}, partial, env, log)
    t0 = time.perf_counter()
    try:
        outputs = step.run(ctx) or {}
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        write_json_atomic(folder / "failed.json", {"step": step.name, "error": f"{type(exc).__name__}: {exc}",
                                                   "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        raise StepFailed(step.name, exc, folder) from exc
    seconds = time.perf_counter() - t0
    (folder / "failed.json").unlink(missing_ok=True)
    artifacts = hash_tree(folder, skip=(DONE, "inputs.json", "*.tmp"))
    stable = {k: v for k, v in outputs.items() if k != "volatile"}  # timings etc. do not trigger dependents
    digest = sha256_text(canonical({"outputs": stable, "artifacts": artifacts}))
    write_json_atomic(folder / DONE, {"step": step.name, "key": key, "outputs": outputs, "artifacts": artifacts,
                                      "digest": digest, "seconds": round(seconds, 2),
                                      "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    log(f"[{step.name}] done in {seconds:.1f} s")
    return StepResult(step.name, key, folder, outputs, digest, "ran", seconds)


def _write_record(root: Path, steps: list[Step], results: Mapping[str, StepResult], statuses: Mapping[str, str],
                  seconds: float, failed: str | None) -> Path:
    runs = root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = runs / f"{stamp}-{os.getpid()}-{time.time_ns() // 1_000_000 % 1000:03d}.json"
    data = {"finished": stamp, "seconds": round(seconds, 2), "failed": failed,
            "steps": {s.name: {"status": statuses.get(s.name, "not run"),
                               **({"key": results[s.name].key, "folder": str(results[s.name].folder),
                                   "seconds": round(results[s.name].seconds, 2)} if s.name in results else {})}
                      for s in steps}}
    write_json_atomic(path, data)
    write_json_atomic(root / "latest.json", {**data, "record": str(path)})
    return path
