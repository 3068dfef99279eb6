import json
import os
import subprocess
import sys

from conftest import need

from cardlens.offline import INTEGRATIONS_OFF, configure_offline


def test_configure_offline_sets_env_settings_and_font(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDLENS_CACHE", str(tmp_path))
    monkeypatch.delenv("YOLO_CONFIG_DIR", raising=False)
    cfg = configure_offline()
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "False"
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"
    assert cfg.yolo_config_dir == tmp_path / "ultralytics" / "Ultralytics"
    settings = json.loads(cfg.settings_file.read_text())
    assert settings["sync"] is False and not any(settings[k] for k in INTEGRATIONS_OFF)
    assert cfg.font_file is not None and cfg.font_file.stat().st_size > 10_000
    env = {k: os.environ[k] for k in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "ORT_DISABLE_TELEMETRY")}
    again = configure_offline()  # idempotent: a second call changes nothing
    assert again == cfg and json.loads(cfg.settings_file.read_text()) == settings
    assert {k: os.environ[k] for k in env} == env


def test_ultralytics_imports_offline_without_network(tmp_path):
    """In a fresh interpreter with sockets disabled: import via cardlens, check settings and font."""
    need("ultralytics")
    code = """
import socket, json
def refuse(*a, **k): raise RuntimeError("network attempted")
socket.getaddrinfo = refuse
socket.socket.connect = refuse
from cardlens.offline import import_ultralytics
ultralytics = import_ultralytics()
from ultralytics.utils import SETTINGS, is_online, USER_CONFIG_DIR
from ultralytics.utils.checks import check_font
import ultralytics.utils as u
print(json.dumps({"sync": SETTINGS["sync"], "online": is_online(), "autoinstall": u.AUTOINSTALL,
                   "font": str(check_font("Arial.ttf")), "dir": str(USER_CONFIG_DIR)}))
"""
    env = {**os.environ, "CARDLENS_CACHE": str(tmp_path)}
    env.pop("YOLO_CONFIG_DIR", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info == {"sync": False, "online": False, "autoinstall": False,
                    "font": str(tmp_path / "ultralytics" / "Ultralytics" / "Arial.ttf"),
                    "dir": str(tmp_path / "ultralytics" / "Ultralytics")}
