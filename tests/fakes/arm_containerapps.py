"""The container app part of FakeArm: revisions, traffic (with labels), scale, secrets.

Azure behaviours modelled here that a reader might not expect:

- A revision read (GET .../revisions/{name}) answers env `secretRef`s prefixed with "<app name>-",
  while the app's own secrets keep their plain names. The Azure CLI strips that prefix before it
  reuses a revision's template (azure-cli, containerapp `_utils.py::_update_revision_env_secretrefs`,
  called by `update --from-revision` in `containerapp_decorator.py::set_up_from_revision`); the
  symptom without it is microsoft/azure-container-apps#370 and pulumi/pulumi-azure-native#1715.
- A template whose env names a secret the app does not have is refused at the API with
  400 ContainerAppSecretRefNotFound; the message is the one the portal shows,
  "SecretRef '<name>' defined for container '<container>' not found." (pulumi-azure-native#1715).
- The app's GET lists its secrets by name only: `Secret.value` is write-only (visibility
  create/update in azure-mgmt-appcontainers 5.1.0 models).
- PATCH is a JSON merge patch, so `ingress.traffic` is replaced whole: labels that the PATCH does
  not repeat are gone (TrafficWeight.label, "Associates a traffic label with a revision").
"""
from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import Any

from tests.fakes.arm_wire import API_VERSIONS, error, iso, merge


class ContainerAppsFake:
    """Mixed into FakeArm; uses its lock, _now, url, app_id and _start_op."""

    def set_app(self, *, mode: str = "Single", min_replicas: int = 1, max_replicas: int = 10,
                running_status: str = "Running", provisioning_state: str = "Succeeded",
                traffic: list[dict[str, Any]] | None = None, secrets: list[str] | None = None) -> None:
        with self.lock:
            self.app = {"mode": mode, "running": running_status, "state": provisioning_state,
                        "scale": {"minReplicas": min_replicas, "maxReplicas": max_replicas},
                        "secrets": list(secrets or []),
                        "traffic": traffic if traffic is not None else
                        ([{"latestRevision": True, "weight": 100}] if mode == "Single" else [])}

    def add_revision(self, name: str, created: datetime, active: bool = True, traffic: int = 0,
                     health: str = "Healthy", *, provisioning: str = "Provisioned", running: str = "Running",
                     image: str | None = None, env: list[dict[str, str]] | None = None,
                     label: str | None = None) -> None:
        """`env` as deployed (plain secret names); `label` puts a labelled traffic entry on it."""
        with self.lock:
            container: dict[str, Any] = {"name": "api", "image": image or f"acr.io/api:{name}"}
            if env:
                container["env"] = copy.deepcopy(env)
            template = {"revisionSuffix": name.split("--")[-1], "containers": [container],
                        "scale": dict(self.app["scale"])}
            self.revisions[name] = {"created": created, "active": active, "health": health,
                                    "provisioning": provisioning, "running": running, "template": template}
            if traffic or label:
                self.app["traffic"] = [t for t in self.app["traffic"] if t.get("revisionName") != name]
                entry: dict[str, Any] = {"revisionName": name, "weight": traffic}
                if label:
                    entry["label"] = label
                self.app["traffic"].append(entry)

    # ---- derived views ---------------------------------------------------------------------
    def app_name(self) -> str:
        return self.app_id.rsplit("/", 1)[-1]

    def latest_revision(self) -> str | None:
        return max(self.revisions, key=lambda n: self.revisions[n]["created"], default=None)

    def weights(self) -> dict[str, int]:
        out = {n: 0 for n in self.revisions}
        for t in self.app["traffic"]:
            name = self.latest_revision() if t.get("latestRevision") else t.get("revisionName")
            if name in out:
                out[name] += int(t.get("weight", 0))
        return out

    def labels(self) -> dict[str, str]:
        """label -> revision name (the latest-revision rule as "latest")."""
        return {t["label"]: ("latest" if t.get("latestRevision") else t.get("revisionName"))
                for t in self.app["traffic"] if t.get("label")}

    def _revision_json(self, name: str) -> dict[str, Any]:
        r = self.revisions[name]
        template = copy.deepcopy(r["template"])
        for container in template.get("containers", []) + template.get("initContainers", []):
            for var in container.get("env", []):
                if var.get("secretRef"):
                    var["secretRef"] = f"{self.app_name()}-{var['secretRef']}"   # as Azure answers it
        return {"id": f"{self.app_id}/revisions/{name}", "name": name, "type": "Microsoft.App/containerApps/revisions",
                "properties": {"createdTime": iso(r["created"]), "active": r["active"],
                               "trafficWeight": self.weights()[name], "healthState": r["health"],
                               "provisioningState": r["provisioning"], "runningState": r["running"],
                               "replicas": self.app["scale"]["minReplicas"] if r["active"] else 0,
                               "template": template}}

    def _app_json(self) -> dict[str, Any]:
        latest = self.latest_revision()
        ready = [n for n in self.revisions if self.revisions[n]["provisioning"] == "Provisioned"]
        template = copy.deepcopy(self.revisions[latest]["template"]) if latest else {}
        template["scale"] = dict(self.app["scale"])
        return {"id": self.app_id, "name": self.app_name(), "location": "westeurope",
                "type": "Microsoft.App/containerApps",
                "properties": {"provisioningState": self.app["state"], "runningStatus": self.app["running"],
                               "latestRevisionName": latest,
                               "latestReadyRevisionName": max(ready, key=lambda n: self.revisions[n]["created"],
                                                              default=None),
                               "configuration": {"activeRevisionsMode": self.app["mode"],
                                                 "secrets": [{"name": s} for s in self.app["secrets"]],
                                                 "ingress": {"external": True, "targetPort": 8080,
                                                             "traffic": copy.deepcopy(self.app["traffic"])}},
                               "template": template}}

    def _list_revisions(self, skip: int) -> tuple[int, Any]:
        """Oldest first, as ARM does not promise an order; pages of `page_size` linked by nextLink."""
        names = sorted(self.revisions, key=lambda n: self.revisions[n]["created"])
        end = len(names) if self.page_size is None else skip + self.page_size
        page: dict[str, Any] = {"value": [self._revision_json(n) for n in names[skip:end]]}
        if end < len(names):
            version = API_VERSIONS["Microsoft.App"]
            page["nextLink"] = f"{self.url}{self.app_id}/revisions?api-version={version}&$skiptoken={end}"
        return 200, page

    # ---- writes ------------------------------------------------------------------------------
    def _patch_app(self, body: dict[str, Any]) -> tuple[int, Any]:
        props = body.get("properties") or {}
        config = props.get("configuration") or {}
        traffic = (config.get("ingress") or {}).get("traffic")
        if traffic is not None:
            for t in traffic:
                name = t.get("revisionName")
                if not t.get("latestRevision") and (name not in self.revisions or not self.revisions[name]["active"]):
                    return 400, error("ContainerAppInvalidTrafficWeight", f"revision {name} is not active")
            if sum(int(t.get("weight", 0)) for t in traffic) != 100:
                return 400, error("ContainerAppInvalidTrafficWeight", "traffic weights must sum to 100")
        secrets = [s["name"] for s in config["secrets"]] if config.get("secrets") is not None else self.app["secrets"]
        template = None
        if props.get("template") is not None:
            latest = self.latest_revision()
            template = merge(copy.deepcopy(self.revisions[latest]["template"]) if latest else {}, props["template"])
            missing = _missing_secret_ref(template, secrets)
            if missing:
                return 400, error("ContainerAppSecretRefNotFound",
                                  f"SecretRef '{missing[1]}' defined for container '{missing[0]}' not found.")
            template["revisionSuffix"] = template.get("revisionSuffix") or uuid.uuid4().hex[:7]
            if f"{self.app_name()}--{template['revisionSuffix']}" in self.revisions:
                return 400, error("ContainerAppRevisionAlreadyExists",
                                  f"revision {self.app_name()}--{template['revisionSuffix']} already exists")
        if traffic is not None:
            self.app["traffic"] = copy.deepcopy(traffic)   # merge patch: the array is replaced whole
        self.app["secrets"] = list(secrets)
        if config.get("activeRevisionsMode"):
            self.app["mode"] = config["activeRevisionsMode"]
        provisioned = self._new_revision(template) if template is not None else (lambda: None)
        self.app["state"] = "InProgress"

        def done() -> None:
            provisioned()
            self.app["state"] = "Succeeded"
        return self._start_op("Microsoft.App", done)

    def _new_revision(self, template: dict[str, Any]):
        name = f"{self.app_name()}--{template['revisionSuffix']}"
        self.app["scale"] = dict(template.get("scale") or self.app["scale"])
        self.revisions[name] = {"created": self._now(), "active": True, "health": "Healthy",
                                "provisioning": "Provisioning", "running": "Running", "template": template}
        if self.app["mode"] == "Single":
            for other in self.revisions:
                self.revisions[other]["active"] = other == name
            self.app["traffic"] = [{"latestRevision": True, "weight": 100}]

        def provisioned() -> None:
            self.revisions[name]["provisioning"] = "Provisioned"
        return provisioned


def _missing_secret_ref(template: dict[str, Any], secrets: list[str]) -> tuple[str, str] | None:
    """(container, secretRef) of the first env var naming a secret the app does not have."""
    for container in template.get("containers", []) + template.get("initContainers", []):
        for var in container.get("env", []) or []:
            ref = var.get("secretRef")
            if ref and ref not in secrets:
                return container.get("name", ""), ref
    return None
