"""The runbook's communication templates (section 3 step 1, section 5) as operator-editable files.

Every `*.txt` file of a directory is a Jinja2 template with two blocks, `subject` and `text`, rendered
in a sandbox without autoescaping (plain text). A directory is checked when it loads, so a broken
template fails start-up like a bad runbook key: syntax, both blocks, every name against
shared.domain.communication's documented context, no private attributes, public templates free of
internal fields, and a trial render of each. The shipped templates live in `comms/`.
"""
from __future__ import annotations

import functools
import traceback
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Mapping

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from shared.domain import communication as comm
from shared.domain.communication import Rendered
from shared.domain.errors import NotFound, PolicyError
from shared.templates.checks import check_template, samples

SHIPPED = Path(__file__).resolve().parent / "comms"
BLOCKS = ("subject", "text")
REQUIRED = (  # every file a templates directory must have: the app renders each of them
    "slack-initial", "status-investigating", "status-identified", "status-monitoring", "status-resolved",
    "customer-email", "customer-draft", "update-acknowledged", "update-severity", "update-phase",
    "update-remediation", "update-resolved", "update-due", "update-overdue",
)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _lowerfirst(text: str) -> str:
    """For the responder's words in mid-sentence: lower the first letter unless the word is an acronym."""
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def _duration(value: Any) -> str:
    return comm.human_duration(value if isinstance(value, timedelta) else float(value))


FILTERS: Mapping[str, Callable[[Any], str]] = {
    "duration": _duration,                                              # seconds or timedelta -> "1 hour 5 minutes"
    "iso": lambda v: comm.iso_utc(_when(v)),                            # -> "2026-11-30T03:12:00Z"
    "date": lambda v: comm.iso_utc(_when(v))[:10],                      # -> "2026-11-30"
    "time": lambda v: comm.iso_utc(_when(v))[11:16],                    # -> "03:12" (UTC)
    "lowerfirst": lambda v: _lowerfirst(str(v)),                        # "A faulty x" -> "a faulty x"; "API" stays
}


class Templates:
    """A loaded, checked directory of templates. Build with from_directory() or shipped()."""

    def __init__(self, env: SandboxedEnvironment, labels: Mapping[str, str],
                 checked: Mapping[str, tuple[jinja2.Template, str | None]]):
        self._env, self._labels = env, dict(labels)
        self._compiled = {name: t for name, (t, _) in checked.items()}
        self._parents = {name: parent for name, (_, parent) in checked.items()}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._labels))

    @classmethod
    def from_directory(cls, path: str) -> "Templates":
        """Load and check every *.txt of `path`. Raises PolicyError naming the file and line."""
        root = Path(path)
        if not root.is_dir():
            raise PolicyError(f"communications.templates_dir: {path} is not a directory")
        sources: dict[str, str] = {}
        for p in sorted(root.glob("*.txt")):
            try:
                sources[p.stem] = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise PolicyError(f"{root.name}/{p.name}: cannot read the template ({e})") from e
        labels = {name: f"{root.name}/{name}.txt" for name in sources}
        missing = [n for n in REQUIRED if n not in sources]
        if missing:
            raise PolicyError(f"{root.name}/: missing template(s) {', '.join(m + '.txt' for m in missing)}")
        env = _environment(sources, labels)
        templates = cls(env, labels, {name: check_template(env, name, sources, labels, BLOCKS) for name in sources})
        for name in sources:
            for ctx in samples():
                templates.render(name, ctx)  # a trial render: what the checks above cannot see
        return templates

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        """Both blocks of template `name`, each stripped. Raises NotFound (no such template), PolicyError
        (the template failed: a missing value, a refused attribute), naming the file and line."""
        if name not in self._labels:
            raise NotFound(f"no template {name!r}; known: {', '.join(self.names)}")
        ctx = self._compiled[name].new_context(dict(context))
        parent = self._parents[name]
        while parent:  # what the parent's root render would do: its blocks behind the child's (super())
            for block, render in self._compiled[parent].blocks.items():
                ctx.blocks.setdefault(block, []).append(render)
            parent = self._parents[parent]
        try:
            subject, text = ("".join(ctx.blocks[b][0](ctx)).strip() for b in BLOCKS)
        except (jinja2.TemplateError, TypeError, ValueError) as e:
            raise PolicyError(f"{self._where(e, name)}: {getattr(e, 'message', None) or e}") from e
        return Rendered(name, subject, text)

    def _where(self, e: BaseException, name: str) -> str:
        """`file line N` of the innermost template frame of the traceback (a block of `name` or of a
        template it extends), else the file of `name`."""
        by_label = {label: n for n, label in self._labels.items()}
        frames = [(by_label[f.f_code.co_filename], n) for f, n in traceback.walk_tb(e.__traceback__)
                  if f.f_code.co_filename in by_label]
        if not frames:
            return self._labels[name]
        owner, py_line = frames[-1]
        line = self._compiled[owner].get_corresponding_lineno(py_line)
        return f"{self._labels[owner]} line {line}"


def _environment(sources: Mapping[str, str], labels: Mapping[str, str]) -> SandboxedEnvironment:
    def load(file: str) -> tuple[str, str, Callable[[], bool]] | None:
        name = file.removesuffix(".txt")
        return (sources[name], labels[name], lambda: True) if name in sources and file.endswith(".txt") else None
    env = SandboxedEnvironment(loader=jinja2.FunctionLoader(load), undefined=jinja2.StrictUndefined,
                               autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters.update(FILTERS)
    return env




@functools.cache
def shipped() -> Templates:
    """The templates shipped with the app (shared/templates/comms/), loaded once per worker."""
    return Templates.from_directory(str(SHIPPED))

