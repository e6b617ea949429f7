"""infra/check_infra.py: every check passes on the real tree and fails on a broken copy of it."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

import pytest

from shared.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_infra", ROOT / "infra" / "check_infra.py")
check_infra = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("check_infra", check_infra)
_spec.loader.exec_module(check_infra)

FUNCTION_APP = "infra/bicep/modules/functionapp.bicep"
STORAGE = "infra/bicep/modules/storage.bicep"
ALERTS = "infra/bicep/modules/alerts.bicep"
PARAMS = "infra/bicep/main.parameters.json"
LOCAL = "local.settings.sample.json"

CHECKS = {
    "syntax": lambda root: check_infra.check_syntax(root),
    "param descriptions": lambda root: check_infra.check_param_descriptions(root),
    "secret literals": lambda root: check_infra.check_no_secret_literals(root),
    "settings in bicep": lambda root: check_infra.check_settings_in_bicep(root, SETTINGS),
    "settings in local sample": lambda root: check_infra.check_settings_in_local_sample(root, SETTINGS),
    "parameters file": lambda root: check_infra.check_parameters_file(root),
    "role assignments": lambda root: check_infra.check_role_assignments(root),
    "alert metrics": lambda root: check_infra.check_alert_metrics(root),
    "alerts resolve": lambda root: check_infra.check_alerts_resolve(root),
    "role definitions apart": lambda root: check_infra.check_role_definitions_apart(root),
    "azure.yaml": lambda root: check_infra.check_azure_yaml(root),
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the deployment files to break."""
    shutil.copytree(ROOT / "infra", tmp_path / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("azure.yaml", LOCAL):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def append(root: Path, rel: str, text: str) -> int:
    """Append lines to a file; return the 1-based line number of the first appended line."""
    path = root / rel
    current = path.read_text(encoding="utf-8")
    if not current.endswith("\n"):
        current += "\n"
    path.write_text(current + text, encoding="utf-8")
    return current.count("\n") + 1


def messages(problems) -> list[str]:
    return [str(p) for p in problems]


# ---- the real tree ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", CHECKS)
def test_real_tree_passes(name):
    assert messages(CHECKS[name](ROOT)) == []


def test_main_on_real_tree_is_zero(capsys):
    assert check_infra.main([]) == 0
    assert "infra checks: ok" in capsys.readouterr().out


def test_every_bicep_file_is_checked():
    names = {p.name for p in check_infra.bicep_files(ROOT)}
    assert {"main.bicep", "functionapp.bicep", "storage.bicep", "keyvault.bicep", "monitoring.bicep",
            "identity.bicep", "actiongroup.bicep", "alerts.bicep", "access-containerapp.bicep",
            "access-postgres.bicep", "access-redis.bicep", "access-operationstatus.bicep",
            "role-assignments.bicep", "assign-target.bicep", "assign-subscription.bicep"} <= names


def test_bicep_app_settings_hold_every_setting_and_identity_settings():
    path, settings = check_infra.bicep_app_settings(ROOT)
    assert path.name == "functionapp.bicep"
    assert set(SETTINGS) <= set(settings)
    for host_setting in ("AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential",
                         "AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID",
                         "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"):
        assert host_setting in settings
    # Flex Consumption takes the runtime from functionAppConfig; these settings are rejected there.
    assert "FUNCTIONS_WORKER_RUNTIME" not in settings
    assert "FUNCTIONS_EXTENSION_VERSION" not in settings


def test_local_sample_uses_the_full_azurite_connection_string():
    values = json.loads((ROOT / LOCAL).read_text())["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert "AzureWebJobsStorage" in values
    conn = values["TABLES_CONNECTION_STRING"]
    assert f"AccountKey={check_infra.AZURITE_DEV_KEY};" in conn
    assert "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;" in conn


def test_requirements_dev_pins_the_installed_tools():
    pins = dict(line.split("==") for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert set(pins) >= {"pytest", "tree-sitter", "tree-sitter-bicep"}
    for package, version in pins.items():
        assert metadata.version(package) == version


# ---- broken copies: each check fails, naming file and line ------------------------------------

def test_syntax_error_is_reported_with_file_and_line(tree):
    line = append(tree, STORAGE, "resource broken 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: \n")
    problems = messages(check_infra.check_syntax(tree))
    assert len(problems) == 1
    assert problems[0].startswith(f"{STORAGE}:{line}: syntax error near \"resource broken ")


def test_missing_token_is_reported(tree):
    line = append(tree, STORAGE, "var unbalanced = concat(['a'], ['b']\n")
    assert messages(check_infra.check_syntax(tree)) == [f"{STORAGE}:{line}: syntax error: missing ')'"]


def test_param_without_description_is_reported(tree):
    line = append(tree, STORAGE, "param undocumented string = 'x'\n")
    assert messages(check_infra.check_param_descriptions(tree)) == [
        f"{STORAGE}:{line}: param undocumented has no @description"]


def test_param_with_other_decorators_but_empty_description_is_reported(tree):
    line = append(tree, ALERTS, "@minValue(1)\n@description('')\nparam emptyDescription int = 1\n")
    assert messages(check_infra.check_param_descriptions(tree)) == [
        f"{ALERTS}:{line + 2}: param emptyDescription has no @description"]


SECRET_SAMPLES = {
    "slack webhook": "var leaked = 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX'",
    "slack token": "var leaked = 'xoxb-1234-5678-abcdefgh'",
    "pagerduty 32-hex key": "var leaked = '0123456789abcdef0123456789abcdef'",
    "storage account key": "var leaked = 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=c2VjcmV0a2V5c2VjcmV0a2V5;'",
    "sas signature": "var leaked = 'https://x.blob.core.windows.net/c?sv=2022-11-02&sig=abcdEFGH1234%2Bxyz'",
    "shared access signature": "var leaked = 'Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=abc'",
    "jwt": "var leaked = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig'",
    "atlassian token": "var leaked = 'ATATT3xFfGF0abcdefghijklmnopqrstuvwxyz'",
    "password in connection string": "var leaked = 'Server=x;User Id=u;Password=hunter22;'",
}


@pytest.mark.parametrize("kind", SECRET_SAMPLES)
def test_secret_literal_in_bicep_is_reported(tree, kind):
    line = append(tree, STORAGE, SECRET_SAMPLES[kind] + "\n")
    problems = check_infra.check_no_secret_literals(tree)
    assert problems and all(p.path == STORAGE and p.line == line for p in problems)
    assert all(p.message.startswith("secret literal:") for p in problems)


def test_secure_param_with_a_literal_default_is_reported(tree):
    line = append(tree, FUNCTION_APP, "@description('x')\n@secure()\nparam adminPassword string = 'P@ssw0rd!'\n")
    assert f"{FUNCTION_APP}:{line + 2}: @secure() param adminPassword has a default other than ''" in messages(
        check_infra.check_no_secret_literals(tree))


def test_secret_named_param_without_secure_is_reported(tree):
    line = append(tree, FUNCTION_APP, "@description('x')\nparam statuspageApiKey2 string = ''\n")
    edit(tree, FUNCTION_APP, "param statuspageApiKey2", "param otherApiKey")
    assert f"{FUNCTION_APP}:{line + 1}: param otherApiKey looks like a secret but is not @secure()" in messages(
        check_infra.check_no_secret_literals(tree))


def test_secret_literal_in_parameters_file_is_reported(tree):
    path = tree / PARAMS
    data = json.loads(path.read_text())
    data["parameters"]["jiraApiToken"]["value"] = "not-a-placeholder"
    path.write_text(json.dumps(data, indent=2))
    problems = messages(check_infra.check_no_secret_literals(tree))
    assert any(m.startswith(f"{PARAMS}:") and "parameter jiraApiToken holds a literal" in m for m in problems)


def test_only_the_azurite_key_is_allowed(tree):
    assert check_infra.scan_text_for_secrets(f"AccountKey={check_infra.AZURITE_DEV_KEY};") == []
    edit(tree, LOCAL, check_infra.AZURITE_DEV_KEY, "A" + check_infra.AZURITE_DEV_KEY[1:])
    problems = check_infra.check_no_secret_literals(tree)
    assert [p.path for p in problems] == [LOCAL]
    assert "AccountKey" in problems[0].message


def test_setting_missing_from_bicep_is_reported(tree):
    edit(tree, FUNCTION_APP, "    REDIS_CACHE_ID: redisCacheId\n", "")
    assert messages(check_infra.check_settings_in_bicep(tree, SETTINGS)) == [
        f"{FUNCTION_APP}:0: setting REDIS_CACHE_ID (shared/config.py SETTINGS) is not set in the app settings"]


def test_new_setting_in_config_must_reach_bicep_and_local_sample(tree):
    settings = {**SETTINGS, "BRAND_NEW_SETTING": ""}
    assert any("BRAND_NEW_SETTING" in m for m in messages(check_infra.check_settings_in_bicep(tree, settings)))
    assert any("BRAND_NEW_SETTING" in m for m in messages(check_infra.check_settings_in_local_sample(tree, settings)))


def test_secret_setting_as_a_literal_is_reported(tree):
    edit(tree, FUNCTION_APP, "SLACK_WEBHOOK_URL: secretReferences.SLACK_WEBHOOK_URL",
         "SLACK_WEBHOOK_URL: 'https://example.invalid/hook'")
    problems = messages(check_infra.check_settings_in_bicep(tree, SETTINGS))
    assert any("setting SLACK_WEBHOOK_URL is a literal; it must be a Key Vault reference" in m for m in problems)


def test_setting_missing_from_local_sample_is_reported(tree):
    path = tree / LOCAL
    data = json.loads(path.read_text())
    del data["Values"]["REMEDIATION_MODE"]
    path.write_text(json.dumps(data, indent=2))
    assert messages(check_infra.check_settings_in_local_sample(tree, SETTINGS)) == [
        f"{LOCAL}:0: setting REMEDIATION_MODE (shared/config.py SETTINGS) is missing from Values"]


def test_development_storage_shortcut_is_rejected_for_tables(tree):
    path = tree / LOCAL
    data = json.loads(path.read_text())
    data["Values"]["TABLES_CONNECTION_STRING"] = "UseDevelopmentStorage=true"
    path.write_text(json.dumps(data, indent=2))
    problems = messages(check_infra.check_settings_in_local_sample(tree, SETTINGS))
    assert len(problems) == 1 and "full Azurite form" in problems[0]


def test_unknown_parameter_in_parameters_file_is_reported(tree):
    path = tree / PARAMS
    data = json.loads(path.read_text())
    data["parameters"]["noSuchParam"] = {"value": "x"}
    path.write_text(json.dumps(data, indent=2))
    problems = messages(check_infra.check_parameters_file(tree))
    assert len(problems) == 1 and "parameter noSuchParam is not a param of main.bicep" in problems[0]


def test_role_assignment_without_guid_name_and_inline_role_id_are_reported(tree):
    edit(tree, STORAGE, "name: guid(account.id, identityPrincipalId, roleId)", "name: 'fixed-name'")
    edit(tree, STORAGE, "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)",
         "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')")
    problems = messages(check_infra.check_role_assignments(tree))
    assert any("role assignment name is not a guid(...)" in m for m in problems)
    assert any("GUID literal outside a var" in m for m in problems)


def test_unknown_metric_name_is_reported(tree):
    edit(tree, ALERTS, "metricName: 'is_db_alive'", "metricName: 'database_alive'")
    problems = messages(check_infra.check_alert_metrics(tree))
    assert len(problems) == 1
    assert "metric 'database_alive' does not exist for Microsoft.DBforPostgreSQL/flexibleServers" in problems[0]


def test_azure_yaml_with_wrong_host_is_reported(tree):
    edit(tree, "azure.yaml", "host: function", "host: appservice")
    assert messages(check_infra.check_azure_yaml(tree)) == ["azure.yaml:0: services.api.host must be 'function'"]


def test_main_prints_each_problem_and_returns_non_zero(tree, capsys):
    desc_line = append(tree, STORAGE, "param undocumented string = ''\n")
    edit(tree, FUNCTION_APP, "    TABLE_NAME: tableName\n", "")
    assert check_infra.main(["--root", str(tree)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"{STORAGE}:{desc_line}: param undocumented has no @description" in out
    assert any(line.startswith(f"{FUNCTION_APP}:0: setting TABLE_NAME") for line in out)
    assert out[-1] == "infra checks: 2 problem(s)"


def test_deploy_doc_maps_every_setting_and_points_at_real_lines():
    doc = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in SETTINGS:
        assert f"`{name}`" in doc, f"{name} is not in the settings table of README.md"
    refs = re.findall(r"((?:modules/)?[\w-]+\.bicep):(\d+)", doc)
    assert refs
    for rel, line in refs:
        path = ROOT / "infra" / "bicep" / rel
        if not path.is_file():
            path = ROOT / "infra" / "bicep" / "modules" / rel
        assert path.is_file(), rel
        assert int(line) <= len(path.read_text(encoding="utf-8").splitlines()), f"{rel}:{line}"


# ---- alerts that resolve (issue 13, point 5) ---------------------------------------------------

def test_a_threshold_on_the_cumulative_restart_count_is_reported(tree):
    line = append(tree, ALERTS, "var bad = {\n  metricNamespace: 'Microsoft.App/containerApps'\n"
                                "  metricName: 'RestartCount'\n}\n")
    problems = messages(check_infra.check_alerts_resolve(tree))
    assert problems == [f"{ALERTS}:{line + 2}: metric 'RestartCount' of Microsoft.App/containerApps is cumulative "
                        "per replica: a threshold on it fires once and never resolves; alert on the restart events "
                        "in the system logs instead"]


def test_an_alert_that_does_not_mitigate_is_reported(tree):
    edit(tree, ALERTS, "autoMitigate: true", "autoMitigate: false")
    problems = messages(check_infra.check_alerts_resolve(tree))
    assert len(problems) == 1 and "autoMitigate: false: the alert never resolves by itself" in problems[0]


def test_replica_restarts_are_a_log_alert_on_system_logs_that_resolves():
    text = (ROOT / ALERTS).read_text(encoding="utf-8")
    assert "metricName: 'RestartCount'" not in text
    rule = text[text.index("resource restartAlert 'Microsoft.Insights/scheduledQueryRules@"):]
    rule = rule[:rule.index("\n}\n")]
    assert "kind: 'LogAlert'" in rule and "autoMitigate: true" in rule and "timeAggregation: 'Count'" in rule
    assert "apiLogsWorkspaceId" in rule and "windowSize: 'PT15M'" in rule
    assert "'ContainerAppSystemLogs_CL'" in text and "'ContainerAppSystemLogs'" in text
    params = json.loads((ROOT / PARAMS).read_text())["parameters"]
    assert params["apiLogsWorkspaceId"]["value"] == "${API_LOGS_WORKSPACE_ID=}"


# ---- role definitions before their assignments (issue 13, point 7) ---------------------------

ACCESS_REDIS = "infra/bicep/modules/access-redis.bicep"


def test_a_role_assigned_in_the_file_that_defines_it_is_reported(tree):
    line = append(tree, ACCESS_REDIS, "resource again 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n"
                                      "  name: guid(resourceGroup().id, role.name)\n  properties: {}\n}\n")
    assert messages(check_infra.check_role_definitions_apart(tree)) == [
        f"{ACCESS_REDIS}:{line}: role assignment in the file that defines the role: assign it in a later "
        "deployment (modules/role-assignments.bicep)"]


def test_main_assigns_after_the_definitions_and_azd_assigns_in_the_hook():
    main = (ROOT / "infra/bicep/main.bicep").read_text(encoding="utf-8")
    module = main[main.index("module roleAssignments 'modules/role-assignments.bicep' = if (assignCustomRoles)"):]
    depends = module[module.index("dependsOn: ["):module.index("]", module.index("dependsOn: ["))]
    assert all(m in depends for m in ("apiAccess", "apiEnvironmentAccess", "postgresAccess", "redisAccess"))
    params = json.loads((ROOT / PARAMS).read_text())["parameters"]
    assert params["assignCustomRoles"]["value"] == "${ASSIGN_ROLES_IN_TEMPLATE=false}"
    hooks = check_infra._simple_yaml((ROOT / "azure.yaml").read_text())["hooks"]["postprovision"]
    assert hooks["posix"]["run"] == "python3 infra/assign_roles.py"
    assert hooks["windows"]["run"] == "python infra/assign_roles.py"
    assert assign_roles.TEMPLATE == ROOT / "infra/bicep/modules/role-assignments.bicep"
    outputs = set(re.findall(r"^output (\w+) ", main, re.M))
    assert {v for k, v in assign_roles.PARAMETERS.items() if "RoleName" in k or k in ("principalId", "nameSuffix")} \
        <= outputs


_spec_roles = importlib.util.spec_from_file_location("assign_roles", ROOT / "infra" / "assign_roles.py")
assign_roles = importlib.util.module_from_spec(_spec_roles)
_spec_roles.loader.exec_module(assign_roles)

ENV = {"AZURE_RESOURCE_GROUP": "rg-ir", "AZURE_IDENTITY_PRINCIPAL_ID": "p-1", "AZURE_RESOURCE_TOKEN": "tok",
       "REDIS_CACHE_ID": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/r",
       "IR_ROLE_REDIS": "role-guid"}


class Az:
    """Stands in for `az deployment group create`: answers from a script, records the calls."""

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    def __call__(self, argv):
        import subprocess
        self.calls.append((list(argv), json.loads(open(argv[argv.index("--parameters") + 1][1:]).read())))
        code, err = self.answers.pop(0)
        return subprocess.CompletedProcess(argv, code, "", err)


def test_the_hook_retries_while_the_role_definition_replicates():
    az, slept, said = Az((1, "ERROR: (RoleDefinitionDoesNotExist) The specified role definition with ID "
                             "'role-guid' does not exist."), (1, "(PrincipalNotFound) Principal p-1 does not exist "
                                                                "in the directory"), (0, "")), [], []
    assert assign_roles.assign(ENV, run=az, sleep=slept.append, say=said.append) == 0
    assert slept == [15, 30] and len(az.calls) == 3
    argv, params = az.calls[0]
    assert argv[1:8] == ["deployment", "group", "create", "--resource-group", "rg-ir", "--name",
                         "ir-role-assignments-tok"]
    assert {k: v["value"] for k, v in params["parameters"].items() if v["value"]} == {
        "principalId": "p-1", "nameSuffix": "tok", "redisCacheId": ENV["REDIS_CACHE_ID"], "redisRoleName": "role-guid"}


def test_the_hook_stops_at_once_on_any_other_error_and_gives_up_after_its_delays():
    az, slept = Az((1, "(AuthorizationFailed) The client does not have authorization")), []
    assert assign_roles.assign(ENV, run=az, sleep=slept.append, say=lambda m: None) == 1
    assert slept == [] and len(az.calls) == 1
    az = Az(*[(1, "RoleDefinitionDoesNotExist")] * 3)
    assert assign_roles.assign(ENV, run=az, sleep=slept.append, delays=(1, 2), say=lambda m: None) == 1
    assert slept == [1, 2] and len(az.calls) == 3


def test_the_hook_has_nothing_to_do_without_targets_and_needs_a_provisioned_identity():
    said = []
    no_targets = {k: v for k, v in ENV.items() if not k.startswith(("IR_ROLE", "REDIS"))}
    assert assign_roles.assign(no_targets, run=Az(), say=said.append) == 0
    assert assign_roles.assign({**ENV, "AZURE_IDENTITY_PRINCIPAL_ID": ""}, run=Az(), say=said.append) == 1
    assert "no custom roles to assign" in said[0] and "AZURE_IDENTITY_PRINCIPAL_ID is not set" in said[1]


# ---- secure webhook (issue 13, point 12) -------------------------------------------------------

def test_the_secure_webhook_is_a_switch_that_defaults_off():
    main = (ROOT / "infra/bicep/main.bicep").read_text(encoding="utf-8")
    assert "param useAadAuth bool = false" in main
    group = (ROOT / "infra/bicep/modules/actiongroup.bicep").read_text(encoding="utf-8")
    receiver = group[group.index("var aadReceiver"):group.index("})", group.index("var aadReceiver"))]
    for key in ("useAadAuth: true", "objectId: aadObjectId", "identifierUri: aadIdentifierUri", "tenantId:"):
        assert key in receiver
    assert "useAadAuth ? aadReceiver : plainReceiver" in group
    params = json.loads((ROOT / PARAMS).read_text())["parameters"]
    assert {k: params[k]["value"] for k in ("useAadAuth", "aadObjectId", "aadIdentifierUri", "aadTenantId")} == {
        "useAadAuth": "${ALERT_WEBHOOK_USE_AAD_AUTH=false}", "aadObjectId": "${ALERT_WEBHOOK_AAD_OBJECT_ID=}",
        "aadIdentifierUri": "${ALERT_WEBHOOK_AAD_IDENTIFIER_URI=}", "aadTenantId": "${ALERT_WEBHOOK_AAD_TENANT_ID=}"}
