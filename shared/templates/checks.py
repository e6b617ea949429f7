"""The load-time checks of one template, on its parsed form: each problem becomes a PolicyError naming
the file and line, so an operator's typo fails start-up instead of the first real incident."""
from __future__ import annotations

import difflib
import functools
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from shared.domain import communication as comm
from shared.domain.classification import Classification
from shared.domain.comms_policy import CommsPolicy
from shared.domain.errors import PolicyError
from shared.domain.escalation_state import EscalationState, Paged
from shared.domain.incident import Incident
from shared.domain.remediation_entry import Remediation

SPECIAL = frozenset({"loop", "super", "self", "varargs", "kwargs", "caller"})  # Jinja2's own names


def check_template(env: SandboxedEnvironment, name: str, sources: Mapping[str, str], labels: Mapping[str, str],
                   blocks: tuple[str, ...]) -> tuple[jinja2.Template, str | None]:
    """Check template `name`; returns it compiled, and the template it extends (or None). Raises PolicyError."""
    label = labels[name]
    try:
        ast = env.parse(sources[name], name=name + ".txt", filename=label)
        # compiled from the checked tree (parsed once); compiling also checks every filter and test exists
        compiled = env.template_class.from_code(env, env.compile(ast, name + ".txt", label), env.make_globals(None))
    except jinja2.TemplateSyntaxError as e:
        raise PolicyError(f"{label} line {e.lineno}: {e.message}") from e
    parent = _parent(ast, label, sources)
    problems = list(_names(ast, set(env.globals)))
    if name in comm.PUBLIC_TEMPLATES:
        problems += _public(ast)
    if problems:
        line, why = min(problems, key=lambda p: p[0])
        raise PolicyError(f"{label} line {line}: {why}")
    have, seen, up = {b.name for b in ast.find_all(nodes.Block)}, {name}, parent
    while up:  # blocks a template does not define come from the one it extends
        if up in seen:
            raise PolicyError(f"{label}: templates extend each other in a circle ({' -> '.join([*seen, up])})")
        seen.add(up)
        tree = env.parse(sources[up])
        have |= {b.name for b in tree.find_all(nodes.Block)}
        up = _parent(tree, labels[up], sources, strict=False)
    for block in blocks:
        if block not in have:
            end = sources[name].count("\n") + 1
            raise PolicyError(f"{label} line {end}: no {{% block {block} %}} (each template needs "
                              f"{' and '.join('{% block ' + b + ' %}' for b in blocks)})")
    return compiled, parent


def _parent(ast: nodes.Template, label: str, sources: Mapping[str, str], strict: bool = True) -> str | None:
    ext = ast.find(nodes.Extends)
    if ext is None:
        return None
    target = ext.template.value if isinstance(ext.template, nodes.Const) else None
    name = target.removesuffix(".txt") if isinstance(target, str) and target.endswith(".txt") else None
    if name not in sources:
        if strict:
            raise PolicyError(f"{label} line {ext.lineno}: extends {target!r}, which is not a template here "
                              "(name a sibling file, e.g. \"customer-email.txt\")")
        return None
    return name


def _assigned(ast: nodes.Template) -> set[str]:
    names = {n.name for n in ast.find_all(nodes.Name) if n.ctx != "load"}
    names |= {i.target for i in ast.find_all(nodes.Import)}
    for f in ast.find_all(nodes.FromImport):
        names |= {n if isinstance(n, str) else n[1] for n in f.names}
    return names


def _key(node: nodes.Node) -> tuple[nodes.Name, Any] | None:
    """(name, key) for `name.key` and `name["key"]`."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return node.node, node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name) and isinstance(node.arg, nodes.Const):
        return node.node, node.arg.value
    return None


def _names(ast: nodes.Template, env_globals: set[str]) -> Iterable[tuple[int, str]]:
    assigned = _assigned(ast)
    known = comm.ALL_NAMES | env_globals | SPECIAL | assigned
    for n in ast.find_all(nodes.Name):
        if n.ctx == "load" and n.name not in known:
            close = difflib.get_close_matches(n.name, sorted(comm.ALL_NAMES), n=1)
            yield n.lineno, f"unknown name {n.name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(getattr(node, "arg", None), "value", None)
        if isinstance(attr, str) and attr.startswith("_"):
            yield node.lineno, f"attribute {attr!r} is not allowed (templates run in a sandbox)"
        pair = _key(node)
        if pair is None or pair[0].name not in comm.KEYS or pair[0].name in assigned:
            continue
        name, key = pair[0].name, pair[1]
        if key not in comm.KEYS[name]:
            close = difflib.get_close_matches(str(key), sorted(comm.KEYS[name]), n=1)
            yield node.lineno, f"unknown key {key!r} of {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _public(ast: nodes.Template) -> Iterable[tuple[int, str]]:
    """A public template (status page, customer email) uses only comm.PUBLIC and the public incident keys."""
    for stmt in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        yield stmt.lineno, "a public template may not extend, include or import another template"
    assigned = _assigned(ast)
    keyed = {}
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        pair = _key(node)
        if pair:
            keyed[id(pair[0])] = pair[1]
    for n in ast.find_all(nodes.Name):
        if n.ctx != "load" or n.name in assigned or n.name in SPECIAL:
            continue
        if n.name == "incident":
            key = keyed.get(id(n))
            if key not in comm.PUBLIC_INCIDENT:
                what = f"incident.{key}" if key is not None else "the whole incident"
                yield n.lineno, (f"{what} is internal: a public template may use only incident."
                                 f"{', incident.'.join(sorted(comm.PUBLIC_INCIDENT))}")
        elif n.name in comm.ALL_NAMES and n.name not in comm.PUBLIC:
            yield n.lineno, (f"{n.name!r} is internal: a public template may use only "
                             f"{', '.join(sorted(comm.PUBLIC))} and incident.<public key>")


@functools.cache
def samples() -> tuple[dict[str, Any], ...]:
    """Two contexts every template must render with: a resolved incident with every value filled in,
    and an open one with nothing optional (no tenants, no lead, no extras)."""
    t0 = datetime(2026, 1, 5, 3, 0, tzinfo=timezone.utc)
    core = {"api": "/subscriptions/0/resourcegroups/rg/providers/microsoft.app/containerapps/ca-sample"}
    comms = CommsPolicy(services={"api": "Sample API"}, customers={"sample": {"name": "Sample Co", "contact": "x@y"}})
    remediation = Remediation.from_doc({"id": "REM-000000", "playbook": "rollback", "resource_id": core["api"],
                                        "status": "succeeded", "reason": "sample"})
    full = Incident(id="INC-20260105-0001", title="Sample", severity="SEV-1", created_at=t0,
                    classification=Classification("SEV-1", "core", "all", "sample", security=True),
                    state="resolved", phase="resolved",
                    acknowledged_at=t0 + timedelta(minutes=4), acknowledged_by="sample",
                    resolved_at=t0 + timedelta(minutes=65), tenants=["sample", "other"], core_targets=[core["api"]],
                    remediations=[remediation], escalation=EscalationState(paged={"primary": Paged("sample")}))
    bare = Incident(id="INC-20260105-0002", title="Sample", severity="SEV-4", created_at=t0,
                    classification=Classification("SEV-4", None, None, ""))
    now = t0 + timedelta(minutes=70)
    return (comm.context(full, comms, now, core=core, message="sample", estimate="1 hour", workaround="sample",
                         old_severity="SEV-2", new_severity="SEV-1", reason="sample",
                         remediation=comm.remediation_view(remediation, comms, core), diagnostics=["sample"],
                         ticket="OPS-1", due_at=comm.iso_utc(now), recipients=["sample"], actor="sample"),
            comm.context(bare, CommsPolicy(), now))
