"""azd postprovision hook: assign the function app identity's custom roles, retrying while the
role definitions that `azd provision` just created replicate through Azure RBAC.

    python infra/assign_roles.py            # azd runs it (azure.yaml hooks.postprovision)

`azd provision` deploys main.bicep with assignCustomRoles=false: the custom role definitions, not
their assignments. This deploys infra/bicep/modules/role-assignments.bicep at the app's resource
group with `az deployment group create`, and retries on the errors a not-yet-replicated
definition or a new identity cause (RoleDefinitionDoesNotExist, PrincipalNotFound): RBAC changes
can take minutes to apply (Microsoft Learn, "Troubleshoot Azure RBAC"). Any other error stops at
once. Reads the azd environment (azd exports it to hooks): AZURE_RESOURCE_GROUP,
AZURE_IDENTITY_PRINCIPAL_ID, AZURE_RESOURCE_TOKEN, the target ids and the IR_ROLE_* outputs.
Needs the Azure CLI signed in (`az login`) to the same tenant as azd. Exit status: 0 when the
roles are assigned (or there is nothing to assign), 1 otherwise.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

TEMPLATE = Path(__file__).resolve().parent / "bicep" / "modules" / "role-assignments.bicep"
# parameter of role-assignments.bicep -> azd environment value
PARAMETERS = {
    "principalId": "AZURE_IDENTITY_PRINCIPAL_ID",
    "nameSuffix": "AZURE_RESOURCE_TOKEN",
    "apiContainerAppId": "API_CONTAINER_APP_ID",
    "apiManagedEnvironmentId": "API_MANAGED_ENVIRONMENT_ID",
    "postgresServerId": "POSTGRES_SERVER_ID",
    "redisCacheId": "REDIS_CACHE_ID",
    "apiRoleName": "IR_ROLE_API",
    "apiEnvironmentRoleName": "IR_ROLE_API_ENVIRONMENT",
    "postgresRoleName": "IR_ROLE_POSTGRES",
    "redisRoleName": "IR_ROLE_REDIS",
    "appOperationsRoleName": "IR_ROLE_APP_OPERATIONS",
    "postgresOperationsRoleName": "IR_ROLE_POSTGRES_OPERATIONS",
    "alertsSubscriptionIds": "IR_ALERTS_SUBSCRIPTIONS",   # alert-state role (modules/access-alerts.bicep)
}
ROLES = [k for k in PARAMETERS if k.endswith("RoleName") or k == "alertsSubscriptionIds"]
# What a definition or principal that has not replicated yet looks like; nothing else is retried.
TRANSIENT = ("RoleDefinitionDoesNotExist", "PrincipalNotFound", "does not exist in the directory")
DELAYS_S = (15, 30, 60, 120, 120, 120, 120)      # about ten minutes in all, then give up


def parameters(env: Mapping[str, str]) -> dict[str, str]:
    """role-assignments.bicep's parameters from the azd environment. Raises KeyError naming what is missing."""
    values = {name: (env.get(var) or "").strip() for name, var in PARAMETERS.items()}
    for name in ("principalId", "nameSuffix"):
        if not values[name]:
            raise KeyError(f"{PARAMETERS[name]} is not set: run azd provision first")
    return values


def command(env: Mapping[str, str], parameters_file: str) -> list[str]:
    group = (env.get("AZURE_RESOURCE_GROUP") or "").strip()
    if not group:
        raise KeyError("AZURE_RESOURCE_GROUP is not set")
    return [shutil.which("az") or "az", "deployment", "group", "create", "--resource-group", group,
            "--name", f"ir-role-assignments-{env['AZURE_RESOURCE_TOKEN']}", "--template-file", str(TEMPLATE),
            "--parameters", f"@{parameters_file}", "--only-show-errors", "--output", "none"]


def transient(output: str) -> bool:
    return any(word in output for word in TRANSIENT)


def assign(env: Mapping[str, str], *, run: Callable[[Sequence[str]], subprocess.CompletedProcess],
           sleep: Callable[[float], None] = time.sleep, delays: Sequence[float] = DELAYS_S,
           say: Callable[[str], None] = print) -> int:
    """Deploy the assignments, retrying on replication errors. Returns the exit status."""
    try:
        values = parameters(env)
    except KeyError as e:
        say(f"assign_roles: {e.args[0]}")
        return 1
    if not any(values[r] for r in ROLES):
        say("assign_roles: no custom roles to assign (no target resource ids)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "role-assignments.parameters.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
                       "contentVersion": "1.0.0.0",
                       "parameters": {k: {"value": v} for k, v in values.items()}}, f)
        try:
            argv = command(env, path)
        except KeyError as e:
            say(f"assign_roles: {e.args[0]}")
            return 1
        for attempt in range(len(delays) + 1):
            try:
                done = run(argv)
            except FileNotFoundError:
                say("assign_roles: the Azure CLI (az) is not installed; install it, az login, then run "
                    "python infra/assign_roles.py (or azd hooks run postprovision)")
                return 1
            if done.returncode == 0:
                say(f"assign_roles: custom roles assigned (attempt {attempt + 1})")
                return 0
            output = f"{done.stdout or ''}\n{done.stderr or ''}".strip()
            if not transient(output) or attempt == len(delays):
                say(f"assign_roles: the role assignment deployment failed:\n{output}")
                return 1
            say(f"assign_roles: a role definition or the identity has not replicated yet; "
                f"retrying in {delays[attempt]:g} s")
            sleep(delays[attempt])
    return 1


def main() -> int:
    return assign(os.environ, run=lambda argv: subprocess.run(argv, capture_output=True, text=True))


if __name__ == "__main__":
    sys.exit(main())
