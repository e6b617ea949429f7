"""The function key: where it comes from, how a request presents it, and keeping it out of the logs.

As the Functions host reads it: the `x-functions-key` header when present (its value trimmed, as
Kestrel trims header values), else the first `code` query parameter (the name decoded once, then
matched exactly)."""
from __future__ import annotations

import hmac
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, MutableMapping
from urllib.parse import unquote_plus

if TYPE_CHECKING:
    from email.message import Message

HEADER = "x-functions-key"
PARAM = "code"
KEY_FILE = ".devhost-key"  # next to local.settings.json (the app's folder); ignored by git
MASK = "***"


def ensure_key(environ: MutableMapping[str, str] = os.environ,
               keep: str | Path | None = None) -> tuple[str, str]:
    """The function key and where it comes from; sets FUNCTIONS_KEY in `environ`.

    FUNCTIONS_KEY when set; else the key kept in the file `keep` (made on first use, mode 0600);
    else (keep=None) a fresh random key for this process only."""
    key = environ.get("FUNCTIONS_KEY", "").strip()
    if key:
        return key, "from FUNCTIONS_KEY"
    if keep is None:
        key, source = secrets.token_urlsafe(32), "generated for this run"
    else:
        key, source = _kept(Path(keep).resolve())
    environ["FUNCTIONS_KEY"] = key
    return key, source


def _kept(path: Path) -> tuple[str, str]:
    while True:
        try:
            key = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            key = None
        if key:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
            return key, f"kept in {path}"
        if key == "":  # emptied by hand: make a new one
            path.unlink(missing_ok=True)
        key = secrets.token_urlsafe(32)
        # Written aside, then linked into place: two hosts starting together end up with one key.
        fd, tmp = tempfile.mkstemp(prefix=".devhost-key.", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(key + "\n")
            os.link(tmp, path)
            return key, f"generated, kept in {path}"
        except FileExistsError:
            continue  # another host made it first: use that one
        finally:
            os.unlink(tmp)


def presented(headers: Mapping[str, str] | Message, query: Iterable[tuple[str, str]]) -> str | None:
    """The key a request presents: the header when present (trimmed), else the first `code`."""
    value = headers.get(HEADER)
    if value is not None:
        return value.strip()
    return next((v for name, v in query if name == PARAM), None)


def valid(given: str | None, key: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), key.encode())


# A query parameter, in a request target or anywhere in a log line.
_SEGMENT = re.compile(r"(?:(?<=[?&;\s'\"(])|^)[^?&;\s'\"#()]+")


def _decoded(text: str) -> str:
    for _ in range(3):  # however often it was percent-encoded
        if "%" not in text and "+" not in text:
            break
        text = unquote_plus(text)
    return text


def _masked(m: re.Match) -> str:
    raw = m.group(0)
    if not _decoded(raw).lower().startswith(PARAM + "="):
        return raw
    name, eq, _ = raw.partition("=")
    return f"{name}={MASK}" if eq and _decoded(name).lower() == PARAM else f"{PARAM}={MASK}"


def redact(text: str, *secrets_: str) -> str:
    """`text` with every `code` query value, and each of `secrets_` verbatim, replaced by ***."""
    text = _SEGMENT.sub(_masked, text)
    for secret in secrets_:
        if secret:
            text = text.replace(secret, MASK)
    return text
