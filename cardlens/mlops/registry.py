"""MLflow tracking + model registry for cardlens' four models.

The default store is local and needs no server: ``sqlite:///<data>/mlflow/mlflow.db`` with artifacts
under ``<data>/mlflow/artifacts`` (``mlflow ui --backend-store-uri sqlite:///data/mlflow/mlflow.db``
shows it). ``CARDLENS_MLFLOW_URI`` (or ``--tracking-uri``, or ``registry.tracking_uri`` in a pipeline
config) points it anywhere else, e.g. a team's MLflow server; only then does anything leave this
machine. MLflow's own telemetry is off (:func:`cardlens.offline.import_mlflow`).

Registered models are named after the folders in ``cardlens/models``: ``card-detector``,
``field-locator``, ``text-recognizer`` and ``card-verifier``. Each version points at its run's
``models/<name>`` artifact folder (ONNX + torch weights, ``spec.json``, model card) and carries tags
with the weights' sha256 and the promotion gate's verdict. Aliases: ``candidate`` (the latest pipeline
output) and ``production`` (what the gate, or a person, promoted).

The card verifier joined the registry after the other three: runs and stores from before then hold
no ``card-verifier`` (:data:`LATER_NAMES`). Where one is missing, the detector ran with the shipped
verifier (that is what bundles and ``CardDetector.load`` took), so that is what stands in for it, and
every command says so.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from cardlens.errors import CardlensError, UsageError

ROLES = {"detector": "card-detector", "fields": "field-locator", "recognizer": "text-recognizer",
         "verifier": "card-verifier"}
MODEL_NAMES = tuple(ROLES.values())
# versioned since the card verifier joined the pipeline: older runs and stores have none (the shipped
# verifier stands in, with a note); the other models are required everywhere
LATER_NAMES = ("card-verifier",)
EXPERIMENT = "cardlens"
ENV_URI = "CARDLENS_MLFLOW_URI"
ENV_DATA = "CARDLENS_DATA"
ALIASES = ("candidate", "production")
SHIPPED_FILES = ("model.onnx", "model.pt", "spec.json", "MODEL_CARD.md", "model_card.json")
_KEY_OK = re.compile(r"[^A-Za-z0-9_\-. /]")


def data_dir(arg: str | os.PathLike | None = None) -> Path:
    """The project's data folder: ``arg``, else ``$CARDLENS_DATA``, else ``./data``."""
    return Path(arg or os.environ.get(ENV_DATA) or "data")


def default_tracking_uri(data: str | os.PathLike) -> str:
    return "sqlite:///" + str((Path(data) / "mlflow" / "mlflow.db").resolve())


def resolve_tracking_uri(explicit: str | None = None, configured: str | None = None,
                         data: str | os.PathLike | None = None) -> str:
    """``--tracking-uri`` > ``$CARDLENS_MLFLOW_URI`` > the config's ``registry.tracking_uri`` > local store."""
    return explicit or os.environ.get(ENV_URI) or configured or default_tracking_uri(data_dir(data))


def is_local_uri(uri: str) -> bool:
    scheme = urlparse(uri).scheme
    return scheme in ("sqlite", "file", "") or (len(scheme) == 1 and os.name == "nt")


def metric_key(key: str) -> str:
    """MLflow accepts letters, digits, ``_ - . /`` and spaces in names; the rest becomes ``_``."""
    return _KEY_OK.sub("_", key)[:250]


def flatten(obj, prefix: str = "") -> dict:
    """Nested dicts/lists → ``{"a.b.0.c": leaf}``."""
    out: dict = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = obj
    return out


def numeric_metrics(obj, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in flatten(obj, prefix).items():
        if isinstance(v, bool):
            v = float(v)
        if isinstance(v, int | float) and math.isfinite(float(v)):
            out[metric_key(k)] = float(v)
    return out


def param_values(obj, prefix: str = "") -> dict[str, str]:
    return {metric_key(k): ("" if v is None else str(v))[:6000] for k, v in flatten(obj, prefix).items()}


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    run_id: str | None
    source: str
    aliases: tuple[str, ...]
    tags: dict
    created: int | None

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "run_id": self.run_id, "source": self.source,
                "aliases": list(self.aliases), "tags": self.tags, "created": self.created}


def _reraise_unless_missing(exc) -> None:
    """Only "no such model / version / alias" means absent; anything else (a server that cannot be
    reached, a permission error) is raised, not mistaken for an empty registry."""
    if getattr(exc, "error_code", None) not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
        raise exc


def parse_ref(ref: str, default_alias: str | None = "production") -> tuple[str, str | None, str | None]:
    """``NAME``, ``NAME@alias`` or ``NAME@3`` → (name, alias, version)."""
    name, sep, sel = ref.partition("@")
    if not name:
        raise UsageError(f"model reference {ref!r}: expected NAME, NAME@alias or NAME@version")
    if not sep:
        return name, default_alias, None
    if sel.isdigit():
        return name, None, sel
    if not sel:
        raise UsageError(f"model reference {ref!r}: nothing after '@'")
    return name, sel, None


class Registry:
    """A thin, typed layer over ``MlflowClient`` for cardlens' experiment and models."""

    def __init__(self, tracking_uri: str | None = None, data: str | os.PathLike | None = None,
                 experiment: str = EXPERIMENT):
        from cardlens.offline import import_mlflow

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        import_mlflow()
        import logging

        from mlflow import MlflowClient

        for name in ("mlflow", "alembic"):  # schema creation and migrations log at INFO
            logging.getLogger(name).setLevel(logging.WARNING)
        self.data = data_dir(data)
        self.uri = tracking_uri or resolve_tracking_uri(data=self.data)
        if self.uri.startswith("sqlite:///"):
            Path(self.uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.experiment = experiment
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        self._experiment_id: str | None = None

    # ------------------------------------------------------------------ tracking
    @property
    def local(self) -> bool:
        return is_local_uri(self.uri)

    def artifact_root(self) -> str | None:
        """Where a new local experiment keeps its artifacts (None: the server decides)."""
        if not self.local:
            return None
        if self.uri.startswith("sqlite:///"):
            base = Path(self.uri[len("sqlite:///"):]).parent
        else:
            base = self.data / "mlflow"
        return (base / "artifacts").resolve().as_uri()

    def experiment_id(self) -> str:
        if self._experiment_id is None:
            exp = self.client.get_experiment_by_name(self.experiment)
            if exp is None:
                self._experiment_id = self.client.create_experiment(self.experiment,
                                                                    artifact_location=self.artifact_root())
            else:
                self._experiment_id = exp.experiment_id
        return self._experiment_id

    def start_run(self, run_name: str, tags: Mapping[str, str] | None = None) -> str:
        run = self.client.create_run(self.experiment_id(), run_name=run_name,
                                     tags={k: str(v) for k, v in (tags or {}).items()})
        return run.info.run_id

    def log(self, run_id: str, params: Mapping | None = None, metrics: Mapping | None = None,
            tags: Mapping | None = None) -> None:
        import time

        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        ps = [Param(k, v) for k, v in (params or {}).items()]
        ms = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        ts = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        for i in range(0, max(len(ps), len(ms), len(ts), 1), 100):
            self.client.log_batch(run_id, metrics=ms[i:i + 100], params=ps[i:i + 100], tags=ts[i:i + 100])

    def log_artifacts(self, run_id: str, local: str | os.PathLike, artifact_path: str | None = None) -> None:
        local = Path(local)
        if local.is_dir():
            self.client.log_artifacts(run_id, str(local), artifact_path)
        else:
            self.client.log_artifact(run_id, str(local), artifact_path)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def run_info(self, run_id: str) -> dict:
        run = self.client.get_run(run_id)
        return {"run_id": run_id, "name": run.info.run_name, "status": run.info.status,
                "artifact_uri": run.info.artifact_uri, "start_time": run.info.start_time,
                "params": dict(run.data.params), "metrics": dict(run.data.metrics),
                "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}}

    # ------------------------------------------------------------------ registry
    def _ensure_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException as exc:
            _reraise_unless_missing(exc)
            self.client.create_registered_model(name, description=f"cardlens {name} (see its MODEL_CARD.md)")

    def register(self, name: str, run_id: str, artifact_path: str, tags: Mapping | None = None) -> str:
        self._ensure_model(name)
        source = f"{self.client.get_run(run_id).info.artifact_uri.rstrip('/')}/{artifact_path}"
        mv = self.client.create_model_version(name, source=source, run_id=run_id,
                                              tags={k: str(v) for k, v in (tags or {}).items()})
        return str(mv.version)

    def next_version(self, name: str) -> str:
        versions = self._versions(name)
        return str(max((int(v.version) for v in versions), default=0) + 1)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, str(version))

    def _versions(self, name: str) -> list:
        from mlflow.exceptions import MlflowException

        try:
            return list(self.client.search_model_versions(f"name = '{name}'"))
        except MlflowException as exc:
            _reraise_unless_missing(exc)
            return []

    def _info(self, mv) -> VersionInfo:
        if not getattr(mv, "aliases", None):  # search results leave aliases out: ask for the version itself
            mv = self.client.get_model_version(mv.name, mv.version)
        aliases = tuple(getattr(mv, "aliases", None) or ())
        return VersionInfo(mv.name, str(mv.version), mv.run_id, mv.source, aliases, dict(mv.tags or {}),
                           mv.creation_timestamp)

    def by_alias(self, name: str, alias: str) -> VersionInfo | None:
        from mlflow.exceptions import MlflowException

        try:
            return self._info(self.client.get_model_version_by_alias(name, alias))
        except MlflowException as exc:
            _reraise_unless_missing(exc)
            return None

    def get(self, ref: str, default_alias: str | None = "production") -> VersionInfo:
        name, alias, version = parse_ref(ref, default_alias)
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException as exc:
            _reraise_unless_missing(exc)
            known = ", ".join(m["name"] for m in self.list_models()) or "none yet"
            hint = ("; this store predates the card verifier's versioning: 'cardlens models register-shipped' "
                    "registers the shipped one, 'cardlens pipeline run' a trained one") if name in LATER_NAMES else ""
            raise CardlensError(f"no registered model named {name!r} in {self.uri} (registered: {known}){hint}") from None
        if version is not None:
            try:
                return self._info(self.client.get_model_version(name, version))
            except MlflowException as exc:
                _reraise_unless_missing(exc)
                raise CardlensError(f"{name} has no version {version}") from None
        if alias is None:  # latest version
            versions = self._versions(name)
            if not versions:
                raise CardlensError(f"{name} has no versions")
            return self._info(max(versions, key=lambda v: int(v.version)))
        found = self.by_alias(name, alias)
        if found is None:
            raise CardlensError(f"{name} has no version with alias '{alias}'")
        return found

    def list_models(self) -> list[dict]:
        out = []
        for rm in self.client.search_registered_models():
            versions = self._versions(rm.name)
            aliases = dict(getattr(rm, "aliases", None) or {})
            latest = max(versions, key=lambda v: int(v.version)) if versions else None
            out.append({"name": rm.name, "versions": len(versions),
                        "latest": str(latest.version) if latest else None,
                        "aliases": {a: str(v) for a, v in sorted(aliases.items())}})
        return sorted(out, key=lambda m: m["name"])

    def versions(self, name: str) -> list[VersionInfo]:
        return sorted((self._info(v) for v in self._versions(name)), key=lambda v: int(v.version))

    def show(self, ref: str) -> dict:
        info = self.get(ref, default_alias=None)
        out = info.to_dict()
        if info.run_id:
            try:
                out["run"] = self.run_info(info.run_id)
            except Exception as exc:  # the run lives in another store or was deleted
                out["run"] = {"run_id": info.run_id, "error": str(exc)}
        return out

    def download(self, ref: str, dst: str | os.PathLike, default_alias: str | None = "production") -> Path:
        """The version's files into ``dst/<name>/`` (replacing what was there)."""
        from mlflow.artifacts import download_artifacts

        info = self.get(ref, default_alias)
        dst = Path(dst)
        target = dst / info.name
        tmp = dst / f".{info.name}.download"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        uri = self.client.get_model_version_download_uri(info.name, info.version)
        got = Path(download_artifacts(artifact_uri=uri, dst_path=str(tmp), tracking_uri=self.uri))
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(got), str(target))
        shutil.rmtree(tmp, ignore_errors=True)
        return target

    def promote(self, name: str, version: str, alias: str = "production", force: bool = False) -> VersionInfo:
        """Point ``alias`` at ``version``. A version the promotion gate refused needs ``force``."""
        info = self.get(f"{name}@{version}")
        if info.tags.get("gate") == "refused" and not force:
            reasons = info.tags.get("gate_reasons", "see the run's gate report")
            raise CardlensError(f"{name} version {version} was refused by the promotion gate ({reasons}); "
                                "use --force to promote it anyway")
        self.set_alias(name, alias, info.version)
        return self.get(f"{name}@{alias}")


# ---------------------------------------------------------------------- the shipped models as version N
def shipped_params_and_metrics(models_dir: Path) -> tuple[dict, dict]:
    from cardlens.mlops.gate import recorded_shipped_metrics

    params, metrics = {}, {}
    for name in MODEL_NAMES:
        card_path = models_dir / name / "model_card.json"
        if not card_path.is_file():
            continue
        card = json.loads(card_path.read_text())
        spec = json.loads((models_dir / name / "spec.json").read_text())
        params.update(param_values({"stages": card.get("stages"), "code_commit": card.get("code_commit"),
                                    "train": spec.get("extra", {}).get("train"),
                                    "input_size": spec.get("input_size")}, f"{name}."))
        measured = {k: v for k, v in card.items() if k in ("metrics", "synthetic_val", "realcards", "pipeline",
                                                           "params", "gflops")}
        metrics.update(numeric_metrics(measured, f"{name}."))
    production, easyocr = recorded_shipped_metrics(models_dir)
    metrics.update(numeric_metrics({k: v for k, v in production.items() if v is not None}, "gate."))
    metrics.update(numeric_metrics({k: v for k, v in (easyocr or {}).items() if v is not None}, "easyocr."))
    return params, metrics


def weights_tags(folder: Path) -> dict:
    from cardlens.modelspec import sha256_of

    spec = json.loads((folder / "spec.json").read_text())
    tags = {"onnx_sha256": sha256_of(folder / spec["weights"]), "spec_name": spec["name"], "task": spec["task"]}
    pt = spec.get("extra", {}).get("torch_weights")
    if pt and (folder / pt).is_file():
        tags["torch_sha256"] = sha256_of(folder / pt)
    return tags


def registry_card_field(run_id: str, name: str, version: str, alias: str, uri: str, experiment: str) -> dict:
    return {"tracking_uri": uri, "experiment": experiment, "run_id": run_id, "registered_model": name,
            "version": int(version), "alias": alias}


def write_registry_field(folder: Path, entry: dict) -> None:
    """Add/replace the ``registry`` entry in ``model_card.json`` and a "Registry" section in
    ``MODEL_CARD.md``; nothing else in the folder changes (weights and spec.json untouched)."""
    card_json = folder / "model_card.json"
    if card_json.is_file():
        card = json.loads(card_json.read_text())
        card["registry"] = entry
        card_json.write_text(json.dumps(card, indent=2) + "\n")
    md = folder / "MODEL_CARD.md"
    if md.is_file():
        text = md.read_text()
        marker = "\n## Registry\n"
        if marker in text:
            head, _, rest = text.partition(marker)
            nxt = rest.find("\n## ")
            tail = rest[nxt:] if nxt >= 0 else ""
            text = head.rstrip("\n") + "\n" + tail
            if not text.endswith("\n"):
                text += "\n"
        section = ["", "## Registry", "",
                   f"- Run `{entry['run_id']}` in experiment `{entry['experiment']}` of the MLflow store "
                   f"`{entry['tracking_uri']}`.",
                   f"- Registered model `{entry['registered_model']}` version {entry['version']} "
                   f"(alias `{entry['alias']}`).",
                   "- `cardlens models show " + f"{entry['registered_model']}@{entry['alias']}` prints it; "
                   "on a fresh clone `cardlens models register-shipped` registers these files again "
                   "(a new run id; the versions carry the weights' sha256 as tags)."]
        md.write_text(text.rstrip("\n") + "\n" + "\n".join(section) + "\n")


def register_shipped(registry: Registry, models_dir: Path | None = None, alias: str = "production",
                     update_cards: bool = False, card_uri: str | None = None, force: bool = False) -> dict:
    """Register the shipped models (``cardlens/models``) as a new version each, with ``alias``.

    A model whose weights already hold ``alias`` (a version whose tags carry the same ONNX sha256) is
    left as it is unless ``force``: nothing is done when all of them do, and a store seeded before the
    card verifier was versioned gets just the verifier (``kept`` names the others). ``update_cards``
    writes the run into the folders' model cards (metadata only: the weights and their sha256 stay as
    they are); ``card_uri`` is the store URI written there.
    """
    from cardlens.detector.modelcard import git_commit
    from cardlens.export.sources import MODELS

    models_dir = Path(models_dir or MODELS)
    missing = [n for n in MODEL_NAMES if not (models_dir / n / "spec.json").is_file()]
    if missing:
        raise CardlensError(f"{models_dir}: no {', '.join(missing)} model folder(s) (each needs a spec.json; "
                            f"the shipped models are {', '.join(MODEL_NAMES)} in {MODELS})")
    held = {n: registry.by_alias(n, alias) for n in MODEL_NAMES}
    kept = {} if force else {
        n: v for n, v in held.items()
        if v is not None and v.tags.get("onnx_sha256") == weights_tags(models_dir / n)["onnx_sha256"]}
    if len(kept) == len(MODEL_NAMES):
        return {"registered": False, "reason": f"already registered with alias '{alias}'",
                "versions": {n: v.version for n, v in kept.items()}, "run_id": kept[MODEL_NAMES[0]].run_id}
    todo = [n for n in MODEL_NAMES if n not in kept]
    params, metrics = shipped_params_and_metrics(models_dir)
    run_id = registry.start_run("shipped-models", tags={"cardlens.kind": "shipped",
                                                        "cardlens.code_commit": git_commit(models_dir.parent.parent),
                                                        "cardlens.models": ", ".join(todo)})
    try:
        registry.log(run_id, params=params, metrics=metrics)
        predicted = {n: registry.next_version(n) for n in todo}
        staging = registry.data / "mlflow" / ".staging" / run_id
        for name in todo:
            dst = staging / name
            dst.mkdir(parents=True, exist_ok=True)
            for f in SHIPPED_FILES:
                if (models_dir / name / f).is_file():
                    shutil.copyfile(models_dir / name / f, dst / f)
            entry = registry_card_field(run_id, name, predicted[name], alias, card_uri or registry.uri,
                                        registry.experiment)
            write_registry_field(dst, entry)
            registry.log_artifacts(run_id, dst, f"models/{name}")
        versions = {}
        for name in todo:
            tags = {**weights_tags(models_dir / name), "origin": "shipped", "gate": "not run (shipped)"}
            versions[name] = registry.register(name, run_id, f"models/{name}", tags)
            registry.set_alias(name, alias, versions[name])
        shutil.rmtree(staging, ignore_errors=True)
        registry.end_run(run_id)
    except BaseException:
        registry.end_run(run_id, "FAILED")
        raise
    if update_cards:
        for name in todo:
            write_registry_field(models_dir / name, registry_card_field(
                run_id, name, versions[name], alias, card_uri or registry.uri, registry.experiment))
    mismatched = {n: (predicted[n], versions[n]) for n in todo if predicted[n] != versions[n]}
    return {"registered": True, "run_id": run_id,
            "versions": {n: versions[n] if n in versions else kept[n].version for n in MODEL_NAMES},
            "alias": alias, "new": todo, "kept": {n: v.version for n, v in kept.items()},
            "cards_updated": update_cards, "card_version_mismatch": mismatched}
