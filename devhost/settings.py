"""App settings for the local host: the environment first, then `Values` of local.settings.json."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import MutableMapping


def load(path: str | Path = "local.settings.json",
         environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Copy `Values` into `environ` without overriding what is set; the names copied."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as e:
        raise SystemExit(f"devhost: cannot read {path}: {e}") from e
    if document.get("IsEncrypted"):
        raise SystemExit(f"devhost: {path} is encrypted; decrypt it with `func settings decrypt`")
    values = document.get("Values") or {}
    added = []
    for name, value in values.items():
        if name not in environ and value is not None:
            environ[name] = value if isinstance(value, str) else json.dumps(value)
            added.append(name)
    return added


def ensure_key(environ: MutableMapping[str, str] = os.environ) -> tuple[str, bool]:
    """The function key: FUNCTIONS_KEY, or a fresh random one set into `environ` (key, generated)."""
    key = environ.get("FUNCTIONS_KEY", "")
    if key:
        return key, False
    key = secrets.token_urlsafe(32)
    environ["FUNCTIONS_KEY"] = key
    return key, True
