"""Keep every third-party library offline and silent. Call :func:`configure_offline` (or use
:func:`import_ultralytics`) before ultralytics, onnxruntime or easyocr is imported.

What it does, and why:
- ``YOLO_OFFLINE=1``: ultralytics skips its DNS probe and analytics; ``YOLO_AUTOINSTALL=False``: it
  never pip-installs a missing package during training or export.
- ``YOLO_CONFIG_DIR`` inside cardlens' cache, with ``settings.json`` written first: ``sync`` and every
  integration (ClearML, Comet, DVC, MLflow, Ray Tune, TensorBoard, W&B) off, datasets/runs/weights
  dirs inside the cache.
- ``Arial.ttf`` / ``Arial.Unicode.ttf`` placed in that dir (a freely licensed DejaVu Sans copy):
  ultralytics' ``check_font`` otherwise tries GitHub on every dataset check.
- ``ORT_DISABLE_TELEMETRY=1`` (onnxruntime), ``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1``,
  ``EASYOCR_MODULE_PATH`` and ``MPLCONFIGDIR`` inside the cache, ``WANDB_MODE=disabled``,
  ``COMET_MODE=disabled``, ``DO_NOT_TRACK=1``, ``MLFLOW_DISABLE_TELEMETRY=true`` (MLflow 3.x usage
  telemetry; see :func:`import_mlflow`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

FORCED_ENV = {
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "False",
    "YOLO_VERBOSE": os.environ.get("YOLO_VERBOSE", "False"),
    "ORT_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "WANDB_MODE": "disabled",
    "COMET_MODE": "disabled",
    "DO_NOT_TRACK": "1",
    # MLflow 3.x sends usage telemetry from a background thread unless told not to (its DO_NOT_TRACK
    # check wants the literal "true"); MLFLOW_DISABLE_TELEMETRY is read when mlflow is imported.
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
INTEGRATIONS_OFF = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")


@dataclass(frozen=True)
class OfflineConfig:
    cache_dir: Path
    yolo_config_dir: Path
    settings_file: Path
    font_file: Path | None


def cache_dir() -> Path:
    """cardlens' writable cache: ``$CARDLENS_CACHE`` or ``$XDG_CACHE_HOME/cardlens`` (~/.cache/cardlens)."""
    env = os.environ.get("CARDLENS_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cardlens"
    return base.expanduser()


def _free_font() -> Path | None:
    here = Path(__file__).parent / "data" / "fonts"
    for candidate in (here / "DejaVuSans.ttf", *sorted(here.glob("*.ttf"))):
        if candidate.is_file():
            return candidate
    try:
        import matplotlib

        p = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return p if p.is_file() else None
    except ImportError:
        return None


def _write_settings(settings_file: Path, root: Path) -> None:
    settings: dict = {}
    if settings_file.is_file():
        try:
            settings = json.loads(settings_file.read_text())
        except (OSError, ValueError):
            settings = {}
    wanted = {
        "sync": False,
        "api_key": "",
        "datasets_dir": str(root / "datasets"),
        "runs_dir": str(root / "runs"),
        "weights_dir": str(root / "weights"),
        "vscode_msg": False,
        "openvino_msg": False,
        **{k: False for k in INTEGRATIONS_OFF},
    }
    if any(settings.get(k) != v for k, v in wanted.items()):
        settings.update(wanted)
        tmp = settings_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(settings, indent=2))
        tmp.replace(settings_file)


def configure_offline() -> OfflineConfig:
    """Set the offline environment and ultralytics settings. Idempotent and cheap."""
    root = cache_dir()
    for key, value in FORCED_ENV.items():
        os.environ[key] = value
    os.environ.setdefault("YOLO_CONFIG_DIR", str(root / "ultralytics"))
    os.environ.setdefault("EASYOCR_MODULE_PATH", str(root / "easyocr"))
    os.environ.setdefault("MPLCONFIGDIR", str(root / "matplotlib"))
    user_dir = Path(os.environ["YOLO_CONFIG_DIR"]).expanduser() / "Ultralytics"
    user_dir.mkdir(parents=True, exist_ok=True)
    settings_file = user_dir / "settings.json"
    _write_settings(settings_file, root / "ultralytics")
    font = None
    src = _free_font()
    if src is not None:
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            dst = user_dir / name
            if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
                shutil.copyfile(src, dst)
        font = user_dir / "Arial.ttf"
    return OfflineConfig(root, user_dir, settings_file, font)


def import_ultralytics():
    """Import ultralytics with the offline environment in place, and re-assert its settings."""
    if "ultralytics" not in sys.modules:
        configure_offline()
    from cardlens.errors import require

    ultralytics = require("ultralytics", "train")
    from ultralytics.utils import SETTINGS

    updates = {"sync": False, **{k: False for k in INTEGRATIONS_OFF}}
    if any(SETTINGS.get(k) != v for k, v in updates.items()):
        SETTINGS.update(updates)
    return ultralytics


def import_mlflow():
    """Import mlflow with telemetry off. The environment must be in place before mlflow's first import
    (it starts its telemetry client then); if something imported it earlier, the client is re-set."""
    imported_before = "mlflow" in sys.modules
    configure_offline()
    from cardlens.errors import require

    mlflow = require("mlflow", "registry")
    if imported_before:
        from mlflow.telemetry.client import set_telemetry_client

        set_telemetry_client()  # reads MLFLOW_DISABLE_TELEMETRY again: no client
    return mlflow
