"""App settings for the local host: the environment first, then `Values` of local.settings.json,
then the app's documented defaults (`shared.config.SETTINGS`)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, MutableMapping


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


def with_defaults(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` over the app's documented defaults; an empty value counts as unset, as the app reads it."""
    from shared.config import SETTINGS
    return {**{k: v for k, v in SETTINGS.items() if v}, **{k: v for k, v in environ.items() if v}}
