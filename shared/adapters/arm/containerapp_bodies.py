"""Container app PATCH bodies built from what ARM answered: reusing a revision's template, and a
traffic array that keeps its labels. Works on the SDK's models by attribute; imports no SDK."""
from __future__ import annotations

from typing import Any, Iterable, Mapping


def reuse_secret_refs(template: Any, *, app_name: str, secrets: Iterable[str]) -> list[str]:
    """Make a revision's template valid for a PATCH of its app, in place; the secret names it uses.

    A revision read names env secrets "<app name>-<secret>", but a PATCH must name the app's own
    secrets, so the prefix is removed (what the Azure CLI does before `update --from-revision`:
    azure-cli containerapp `_update_revision_env_secretrefs`). Only a leading prefix is removed,
    and only when what remains is a secret of the app. Raises ValueError naming every env var whose
    secret the app no longer has: ARM would refuse the PATCH (ContainerAppSecretRefNotFound).
    """
    names = set(secrets)
    prefix = f"{app_name}-".lower()
    used, missing = [], []
    for container in list(getattr(template, "containers", None) or []) + \
            list(getattr(template, "init_containers", None) or []):
        for var in getattr(container, "env", None) or []:
            ref = getattr(var, "secret_ref", None)
            if not ref:
                continue
            if ref not in names and ref.lower().startswith(prefix) and ref[len(prefix):] in names:
                ref = var.secret_ref = ref[len(prefix):]
            if ref in names:
                used.append(ref)
            else:
                missing.append(f"{container.name}/{var.name} -> secret {ref!r}")
    if missing:
        raise ValueError(f"the template names secrets the app does not have ({'; '.join(missing)}; the app has "
                         f"{sorted(names) or 'none'})")
    return sorted(set(used))


def relabelled_traffic(current: Iterable[Any], weights: Mapping[str, int]) -> list[dict[str, Any]]:
    """The traffic array for `weights` (revision name, or "latest" for the latest-revision rule, to
    percent) that keeps every label of `current`.

    PATCH replaces ingress.traffic whole (JSON merge patch), so a label not repeated is deleted.
    A labelled entry keeps its label and gets its revision's new weight (0 when `weights` does not
    name it); a revision with several labels gets its weight on the first one only.
    """
    out: list[dict[str, Any]] = []
    placed: set[str | None] = set()
    for t in current:
        label = getattr(t, "label", None)
        if not label:
            continue
        key: str | None = "latest" if getattr(t, "latest_revision", None) else getattr(t, "revision_name", None)
        weight = weights.get(key, 0) if key is not None and key not in placed else 0  # no weight names None
        placed.add(key)
        out.append({**_target(key), "weight": weight, "label": label})
    out += [{**_target(key), "weight": w} for key, w in weights.items() if key not in placed]
    return out


def _target(key: str | None) -> dict[str, Any]:
    return {"latestRevision": True} if key == "latest" else {"revisionName": key}
