"""Static checks of the deployment files, run in CI and by tests/infra.

    python infra/check_infra.py [--root DIR]

Prints one line per problem (``path:line: message``) and exits non-zero when there is any.
Each check is a function ``check_*(root) -> list[Problem]`` usable on its own:

- every ``.bicep`` file parses with the tree-sitter Bicep grammar (no ERROR or MISSING node);
- every ``param`` has a non-empty ``@description``;
- no secret literal in Bicep, parameter, azd or local-settings files (the well-known Azurite
  development key is the one allowed value), ``@secure()`` params default to ``''``, and a
  param whose name says it holds a secret is ``@secure()``;
- every setting in ``shared.config.SETTINGS`` is set in the function app's ``appsettings`` and
  in ``local.settings.sample.json``; the outbound secrets (``KEY_VAULT_SECRETS``) are Key Vault
  references;
- ``main.parameters.json`` only names params of ``main.bicep`` and covers every required one;
- role assignments have ``guid()`` names and role-definition ids are named variables;
- alert rules use metric names that exist for their resource type;
- alert rules resolve: none sets ``autoMitigate: false`` or thresholds a cumulative counter, and a
  Resource Health filter on ``properties.currentHealthStatus`` lets ``Available`` through;
- custom role definitions and their assignments are in different files (deployments);
- ``azure.yaml`` deploys service ``api`` (python, function host, project root ``.``).
"""
from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
BICEP_DIR = Path("infra/bicep")
PARAMETERS_FILE = BICEP_DIR / "main.parameters.json"
LOCAL_SAMPLE = Path("local.settings.sample.json")
AZURE_YAML = Path("azure.yaml")

# Azurite's development account key is published in Microsoft's docs and Azurite's source; it is
# the only AccountKey value allowed in the tree.
AZURITE_DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
KEY_VAULT_SECRETS = ("PAGERDUTY_ROUTING_KEYS", "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "TEAMS_WEBHOOK_URL",
                     "JIRA_API_TOKEN", "STATUSPAGE_API_KEY")
LOCAL_ONLY_VALUES = {"FUNCTIONS_WORKER_RUNTIME": "python"}

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("shared access signature", re.compile(r"SharedAccess(Signature|Key)=", re.I)),
    ("SAS token signature (sig=)", re.compile(r"(?<![A-Za-z])sig=[A-Za-z0-9%+/=]{8,}")),
    ("32-hex key (PagerDuty-like routing or integration key)",
     re.compile(r"(?<![0-9A-Za-z-])[0-9a-fA-F]{32}(?![0-9A-Za-z-])")),
    ("Slack webhook URL", re.compile(r"hooks\.slack\.com/services/", re.I)),
    ("Slack token", re.compile(r"xox[abposr]-[A-Za-z0-9-]{6,}")),
    ("JWT-like token", re.compile(r"eyJ[A-Za-z0-9_-]{10,}")),
    ("Atlassian API token", re.compile(r"ATATT[A-Za-z0-9_=-]{16,}")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("password in a connection string", re.compile(r"(?<![A-Za-z])(Password|Pwd)=(?!\$\{)[^;\"'\s]+", re.I)),
)
ACCOUNT_KEY = re.compile(r"AccountKey=([^;\"'\s]*)", re.I)
# A param or parameters-file entry whose name ends like this holds a secret.
SECRET_NAME = re.compile(
    r"(password|passwd|apikey|api_key|token|routingkeys?|webhookurl|connectionstring|clientsecret|sharedkey|accountkey)$",
    re.I)
PLACEHOLDER = re.compile(r"^\$\{[A-Z0-9_]+(=[^}]*)?\}$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Azure Monitor platform metric names (REST API names) per resource type, from the "Supported
# metrics" reference pages; alert rules may only use these.
KNOWN_METRICS: Mapping[str, frozenset[str]] = {
    "microsoft.app/containerapps": frozenset({
        "Requests", "ResponseTime", "RestartCount", "Replicas", "CpuPercentage", "MemoryPercentage",
        "UsageNanoCores", "WorkingSetBytes", "RxBytes", "TxBytes"}),
    "microsoft.dbforpostgresql/flexibleservers": frozenset({
        "is_db_alive", "connections_failed", "connections_succeeded", "active_connections",
        "cpu_percent", "memory_percent", "storage_percent", "longest_query_time_sec"}),
    "microsoft.cache/redis": frozenset({
        "serverLoad", "errors", "percentProcessorTime", "usedmemorypercentage", "connectedclients",
        "cacheLatency", "LatencyP99"}),
}


# Metrics that count up for the lifetime of a replica: a static threshold on them is crossed once
# and stays crossed, so the alert never resolves (and never fires again for that replica).
CUMULATIVE_METRICS: Mapping[str, frozenset[str]] = {
    "microsoft.app/containerapps": frozenset({"RestartCount"}),
}


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


# ---- parsing ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _parser():
    import tree_sitter
    import tree_sitter_bicep

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))


@functools.lru_cache(maxsize=256)
def _parse_bytes(source: bytes):
    return _parser().parse(source)


def parse_bicep(path: Path):
    """The tree-sitter tree of one Bicep file."""
    return _parse_bytes(path.read_bytes())


def bicep_files(root: Path) -> list[Path]:
    return sorted((root / BICEP_DIR).rglob("*.bicep"))


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _walk(node) -> Iterator:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _text(node) -> str:
    return node.text.decode("utf-8", "replace")


def _line(node) -> int:
    return node.start_point[0] + 1


def _named(node) -> list:
    return [c for c in node.named_children if c.type != "comment"]


def _string_value(node) -> str | None:
    """The value of a string literal without interpolation; None for anything else."""
    if node is None or node.type != "string":
        return None
    parts = []
    for child in node.named_children:
        if child.type == "string_content":
            parts.append(_text(child))
        elif child.type == "escape_sequence":
            parts.append(_text(child)[1:])
        elif child.type != "comment":
            return None
    return "".join(parts)


def _property_key(prop) -> str | None:
    named = _named(prop)
    if not named:
        return None
    key = named[0]
    if key.type == "identifier":
        return _text(key)
    return _string_value(key)


def _property_value(prop):
    named = _named(prop)
    return named[-1] if len(named) >= 2 else None


def _properties(obj) -> dict:
    """key -> object_property node of an object node."""
    return {k: p for p in _named(obj) if p.type == "object_property" and (k := _property_key(p)) is not None}


def _decorator_names(param_node) -> dict[str, object]:
    """Decorator name -> its call_expression, for the decorators just before a declaration."""
    prev = param_node.prev_named_sibling
    while prev is not None and prev.type == "comment":
        prev = prev.prev_named_sibling
    found: dict[str, object] = {}
    if prev is None or prev.type != "decorators":
        return found
    for decorator in _named(prev):
        call = next((c for c in _named(decorator) if c.type == "call_expression"), None)
        if call is None:
            continue
        fn = call.child_by_field_name("function")
        if fn is None:
            continue
        name = _text(fn).split(".")[-1]
        found[name] = call
    return found


def _declarations(tree, kind: str) -> Iterator:
    for node in _named(tree.root_node):
        if node.type == kind:
            yield node


def _param_name(param_node) -> str:
    ident = next(c for c in _named(param_node) if c.type == "identifier")
    return _text(ident)


def _param_default(param_node):
    """The default value node of a param, or None."""
    seen_eq = False
    for child in param_node.children:
        if child.type == "=":
            seen_eq = True
        elif seen_eq and child.is_named and child.type != "comment":
            return child
    return None


# ---- checks ----------------------------------------------------------------------------------

def check_syntax(root: Path) -> list[Problem]:
    """Every Bicep file parses without ERROR or MISSING nodes."""
    problems: list[Problem] = []
    files = bicep_files(root)
    if not files:
        return [Problem(BICEP_DIR.as_posix(), 0, "no .bicep files found")]
    for path in files:
        tree = parse_bicep(path)
        if not tree.root_node.has_error:
            continue
        for node in _walk(tree.root_node):
            if node.is_missing:
                problems.append(Problem(_rel(root, path), _line(node), f"syntax error: missing {node.type!r}"))
            elif node.type == "ERROR":
                snippet = _text(node).strip().splitlines()[0][:60] if _text(node).strip() else ""
                problems.append(Problem(_rel(root, path), _line(node), f"syntax error near {snippet!r}"))
    return problems


def check_param_descriptions(root: Path) -> list[Problem]:
    """Every param has a non-empty @description."""
    problems: list[Problem] = []
    for path in bicep_files(root):
        tree = parse_bicep(path)
        for param in _declarations(tree, "parameter_declaration"):
            call = _decorator_names(param).get("description")
            args = call.child_by_field_name("arguments") if call is not None else None
            text = _string_value(_named(args)[0]) if args is not None and _named(args) else None
            if not (text or "").strip():
                problems.append(Problem(_rel(root, path), _line(param),
                                        f"param {_param_name(param)} has no @description"))
    return problems


def _scanned_files(root: Path) -> list[Path]:
    files = [*bicep_files(root), *sorted((root / BICEP_DIR).rglob("*.bicepparam")),
             *sorted((root / BICEP_DIR).rglob("*.json"))]
    files += [p for p in (root / AZURE_YAML, root / LOCAL_SAMPLE) if p.is_file()]
    return files


def scan_text_for_secrets(text: str) -> list[tuple[int, str]]:
    """(line, what) for every secret-looking literal in a text."""
    found: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in ACCOUNT_KEY.finditer(line):
            value = match.group(1)
            if value != AZURITE_DEV_KEY and not value.startswith("${"):
                found.append((number, "storage account key in a connection string (AccountKey=)"))
        for what, pattern in SECRET_PATTERNS:
            if pattern.search(line):
                found.append((number, what))
    return found


def check_no_secret_literals(root: Path) -> list[Problem]:
    """No secret-looking literal anywhere; @secure params default to ''; secret-named params are @secure."""
    problems: list[Problem] = []
    for path in _scanned_files(root):
        for number, what in scan_text_for_secrets(path.read_text(encoding="utf-8", errors="replace")):
            problems.append(Problem(_rel(root, path), number, f"secret literal: {what}"))
    for path in bicep_files(root):
        tree = parse_bicep(path)
        for param in _declarations(tree, "parameter_declaration"):
            name = _param_name(param)
            secure = "secure" in _decorator_names(param)
            default = _param_default(param)
            if secure and default is not None and _string_value(default) != "":
                problems.append(Problem(_rel(root, path), _line(default),
                                        f"@secure() param {name} has a default other than ''"))
            if not secure and SECRET_NAME.search(name):
                problems.append(Problem(_rel(root, path), _line(param),
                                        f"param {name} looks like a secret but is not @secure()"))
    params_path = root / PARAMETERS_FILE
    if params_path.is_file():
        try:
            params = json.loads(params_path.read_text(encoding="utf-8")).get("parameters", {})
        except json.JSONDecodeError:
            params = {}  # reported by check_parameters_file
        for name, entry in params.items():
            value = entry.get("value") if isinstance(entry, dict) else None
            if SECRET_NAME.search(name) and isinstance(value, str) and value and not PLACEHOLDER.match(value):
                problems.append(Problem(_rel(root, params_path), _json_line(params_path, name),
                                        f"parameter {name} holds a literal; use an ${{ENV_VAR}} placeholder "
                                        "or a Key Vault reference"))
    return problems


def _json_line(path: Path, key: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if f'"{key}"' in line:
            return number
    return 1


def bicep_app_settings(root: Path) -> tuple[Path | None, dict[str, object]]:
    """(file, {setting: value node}) of the Microsoft.Web/sites/config 'appsettings' resource."""
    for path in bicep_files(root):
        tree = parse_bicep(path)
        for node in _walk(tree.root_node):
            if node.type != "object":
                continue
            props = _properties(node)
            name = props.get("name")
            if name is None or _string_value(_property_value(name)) != "appsettings":
                continue
            body = props.get("properties")
            value = _property_value(body) if body is not None else None
            if value is not None and value.type == "object":
                return path, {k: _property_value(p) for k, p in _properties(value).items()}
    return None, {}


def check_settings_in_bicep(root: Path, settings: Mapping[str, str]) -> list[Problem]:
    """Every app setting the code reads is set in the Bicep appsettings; secrets are Key Vault references."""
    path, app_settings = bicep_app_settings(root)
    if path is None:
        return [Problem(BICEP_DIR.as_posix(), 0,
                        "no Microsoft.Web/sites/config 'appsettings' resource with a literal properties object")]
    rel = _rel(root, path)
    problems = [Problem(rel, 0, f"setting {name} (shared/config.py SETTINGS) is not set in the app settings")
                for name in settings if name not in app_settings]
    references = _key_vault_reference_keys(root)
    for name in KEY_VAULT_SECRETS:
        value = app_settings.get(name)
        if value is None:
            continue
        if _string_value(value) not in (None, ""):
            problems.append(Problem(rel, _line(value), f"setting {name} is a literal; it must be a Key Vault reference"))
        if name not in references:
            problems.append(Problem(rel, _line(value),
                                    f"setting {name}: no '@Microsoft.KeyVault(SecretUri=...)' reference is built for it"))
    return problems


def _key_vault_reference_keys(root: Path) -> set[str]:
    keys: set[str] = set()
    for path in bicep_files(root):
        for node in _walk(parse_bicep(path).root_node):
            if node.type == "object_property":
                value = _property_value(node)
                if value is not None and "@Microsoft.KeyVault(SecretUri=" in _text(value):
                    key = _property_key(node)
                    if key:
                        keys.add(key)
    return keys


def _load_json(path: Path, rel: str) -> tuple[Any, list[Problem]]:
    if not path.is_file():
        return None, [Problem(rel, 0, "file is missing")]
    try:
        return json.loads(path.read_text(encoding="utf-8")), []
    except json.JSONDecodeError as e:
        return None, [Problem(rel, e.lineno, f"not JSON: {e.msg}")]


def check_settings_in_local_sample(root: Path, settings: Mapping[str, str]) -> list[Problem]:
    """local.settings.sample.json sets every setting, with values this app can use locally."""
    path = root / LOCAL_SAMPLE
    rel = LOCAL_SAMPLE.as_posix()
    data, problems = _load_json(path, rel)
    if problems:
        return problems
    values = data.get("Values") if isinstance(data, dict) else None
    if not isinstance(values, dict) or data.get("IsEncrypted") is not False:
        return [Problem(rel, 1, 'must be {"IsEncrypted": false, "Values": {...}}')]
    problems = [Problem(rel, 0, f"setting {name} (shared/config.py SETTINGS) is missing from Values")
                for name in settings if name not in values]
    problems += [Problem(rel, _json_line(path, k), f"Values.{k} must be a string")
                 for k, v in values.items() if not isinstance(v, str)]
    for name, wanted in LOCAL_ONLY_VALUES.items():
        if values.get(name) != wanted:
            problems.append(Problem(rel, _json_line(path, name), f"Values.{name} must be {wanted!r}"))
    if "AzureWebJobsStorage" not in values:
        problems.append(Problem(rel, 0, "Values.AzureWebJobsStorage is missing"))
    conn = values.get("TABLES_CONNECTION_STRING", "")
    if isinstance(conn, str) and conn and "TableEndpoint=" not in conn:
        problems.append(Problem(rel, _json_line(path, "TABLES_CONNECTION_STRING"),
                                "TABLES_CONNECTION_STRING needs the full Azurite form with TableEndpoint= "
                                "(UseDevelopmentStorage=true does not work with this app)"))
    return problems


def check_parameters_file(root: Path) -> list[Problem]:
    """main.parameters.json names only params of main.bicep and covers every param without a default."""
    path = root / PARAMETERS_FILE
    rel = PARAMETERS_FILE.as_posix()
    main = root / BICEP_DIR / "main.bicep"
    if not main.is_file():
        return [Problem((BICEP_DIR / "main.bicep").as_posix(), 0, "file is missing")]
    data, problems = _load_json(path, rel)
    if problems:
        return problems
    given = data.get("parameters", {}) if isinstance(data, dict) else {}
    params = {_param_name(p): p for p in _declarations(parse_bicep(main), "parameter_declaration")}
    problems = [Problem(rel, _json_line(path, name), f"parameter {name} is not a param of main.bicep")
                for name in given if name not in params]
    problems += [Problem(rel, 0, f"param {name} of main.bicep has no default and no value here")
                 for name, node in params.items() if _param_default(node) is None and name not in given]
    return problems


def check_role_assignments(root: Path) -> list[Problem]:
    """Role assignments are named with guid(); role-definition ids are named variables."""
    problems: list[Problem] = []
    for path in bicep_files(root):
        tree = parse_bicep(path)
        for node in _walk(tree.root_node):
            if node.type == "resource_declaration":
                type_node = next((c for c in _named(node) if c.type == "string"), None)
                if not (_string_value(type_node) or "").startswith("Microsoft.Authorization/roleAssignments@"):
                    continue
                body = next((c for c in _named(node) if c.type in ("object", "for_statement", "if_statement")), None)
                obj = next((n for n in _walk(body) if n.type == "object"), None) if body is not None else None
                name = _properties(obj).get("name") if obj is not None else None
                value = _property_value(name) if name is not None else None
                fn = value.child_by_field_name("function") if value is not None and value.type == "call_expression" else None
                if fn is None or _text(fn) != "guid":
                    problems.append(Problem(_rel(root, path), _line(node), "role assignment name is not a guid(...)"))
            elif node.type == "string" and GUID.match(_string_value(node) or ""):
                parent = node.parent
                while parent is not None and parent.type not in ("variable_declaration", "infrastructure"):
                    parent = parent.parent
                if parent is None or parent.type != "variable_declaration":
                    problems.append(Problem(_rel(root, path), _line(node),
                                            "GUID literal outside a var: role ids must be named variables"))
    return problems


def check_alert_metrics(root: Path) -> list[Problem]:
    """Metric alert criteria use metric names that exist for their namespace."""
    problems: list[Problem] = []
    for path in bicep_files(root):
        for node in _walk(parse_bicep(path).root_node):
            if node.type != "object":
                continue
            props = _properties(node)
            if "metricName" not in props or "metricNamespace" not in props:
                continue
            namespace = _string_value(_property_value(props["metricNamespace"]))
            metric = _string_value(_property_value(props["metricName"]))
            if namespace is None or metric is None:
                continue  # computed; nothing to check statically
            known = KNOWN_METRICS.get(namespace.lower())
            if known is None:
                problems.append(Problem(_rel(root, path), _line(node), f"unknown metric namespace {namespace!r}"))
            elif metric not in known:
                problems.append(Problem(_rel(root, path), _line(props["metricName"]),
                                        f"metric {metric!r} does not exist for {namespace}"))
    return problems


HEALTH_STATUS_FIELD = "properties.currentHealthStatus"


def _health_status_filter(any_of) -> list[tuple[object, str | None]]:
    """(node, literal status or None) of each currentHealthStatus condition of an ``anyOf`` array."""
    found = []
    for item in _named(any_of) if any_of is not None and any_of.type == "array" else []:
        props = _properties(item) if item.type == "object" else {}
        if "field" in props and _string_value(_property_value(props["field"])) == HEALTH_STATUS_FIELD:
            equals = props.get("equals")
            found.append((item, _string_value(_property_value(equals)) if equals is not None else None))
    return found


def check_alerts_resolve(root: Path) -> list[Problem]:
    """Alert rules resolve by themselves: no ``autoMitigate: false``, no threshold on a cumulative metric,
    no Resource Health status filter without Available. Activity-log alerts only ever fire, so Resource
    Health's Available event is the only notice that a resource is back (modules/alerts.bicep)."""
    problems: list[Problem] = []
    for path in bicep_files(root):
        for node in _walk(parse_bicep(path).root_node):
            if node.type != "object":
                continue
            props = _properties(node)
            statuses = _health_status_filter(_property_value(props["anyOf"])) if "anyOf" in props else []
            if any(value is None for _, value in statuses):
                problems.append(Problem(_rel(root, path), _line(props["anyOf"]),
                                        f"{HEALTH_STATUS_FIELD} compared with a computed value: list the "
                                        "statuses literally, Available among them"))
            elif statuses and "available" not in {value.lower() for _, value in statuses}:
                problems.append(Problem(_rel(root, path), _line(props["anyOf"]),
                                        f"Resource Health filter on {HEALTH_STATUS_FIELD} without Available: "
                                        "activity-log alerts never resolve, so nothing would report the "
                                        "resource back"))
            mitigate = props.get("autoMitigate")
            if mitigate is not None and _text(_property_value(mitigate)).strip() == "false":
                problems.append(Problem(_rel(root, path), _line(mitigate),
                                        "autoMitigate: false: the alert never resolves by itself"))
            if "metricName" in props and "metricNamespace" in props:
                namespace = _string_value(_property_value(props["metricNamespace"])) or ""
                metric = _string_value(_property_value(props["metricName"]))
                if metric in CUMULATIVE_METRICS.get(namespace.lower(), ()):
                    problems.append(Problem(_rel(root, path), _line(props["metricName"]),
                                            f"metric {metric!r} of {namespace} is cumulative per replica: a "
                                            "threshold on it fires once and never resolves; alert on the "
                                            "restart events in the system logs instead"))
    return problems


def _resource_types(tree) -> list[tuple[str, object]]:
    found = []
    for node in _walk(tree.root_node):
        if node.type == "resource_declaration":
            type_node = next((c for c in _named(node) if c.type == "string"), None)
            found.append(((_string_value(type_node) or "").split("@")[0].lower(), node))
    return found


def check_role_definitions_apart(root: Path) -> list[Problem]:
    """No file both defines a custom role and assigns one: the assignment must be a later deployment
    than the definition, which can take minutes to replicate (modules/role-assignments.bicep)."""
    problems: list[Problem] = []
    for path in bicep_files(root):
        types = _resource_types(parse_bicep(path))
        if any(t == "microsoft.authorization/roledefinitions" for t, _ in types):
            problems += [Problem(_rel(root, path), _line(node),
                                 "role assignment in the file that defines the role: assign it in a later "
                                 "deployment (modules/role-assignments.bicep)")
                         for t, node in types if t == "microsoft.authorization/roleassignments"]
    return problems


def _simple_yaml(text: str) -> dict:
    """Nested mappings of 'key: value' lines (enough for azure.yaml; no lists or flow style)."""
    result: dict = {}
    stack: list[tuple[int, dict]] = [(-1, result)]
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        while stack and indent <= stack[-1][0]:
            stack.pop()
        parent = stack[-1][1]
        value = value.strip().strip("'\"")
        if value:
            parent[key] = value
        else:
            parent[key] = {}
            stack.append((indent, parent[key]))
    return result


def check_azure_yaml(root: Path) -> list[Problem]:
    """azure.yaml deploys the repo root as service api, a Python function app, with infra/bicep."""
    path = root / AZURE_YAML
    rel = AZURE_YAML.as_posix()
    if not path.is_file():
        return [Problem(rel, 0, "file is missing")]
    doc = _simple_yaml(path.read_text(encoding="utf-8"))
    api = doc.get("services", {}).get("api") if isinstance(doc.get("services"), dict) else None
    if not isinstance(api, dict):
        return [Problem(rel, 0, "services.api is missing")]
    wanted = {"project": ".", "language": "python", "host": "function"}
    problems = [Problem(rel, 0, f"services.api.{k} must be {v!r}") for k, v in wanted.items() if api.get(k) != v]
    infra = doc.get("infra", {})
    if not isinstance(infra, dict) or infra.get("path", "").rstrip("/").removeprefix("./") != BICEP_DIR.as_posix():
        problems.append(Problem(rel, 0, f"infra.path must be {BICEP_DIR.as_posix()!r}"))
    return problems


def load_settings(root: Path = REPO_ROOT) -> Mapping[str, str]:
    """shared.config.SETTINGS of the repository at root."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from shared.config import SETTINGS

    return SETTINGS


def run_all(root: Path, settings: Mapping[str, str] | None = None) -> list[Problem]:
    settings = load_settings() if settings is None else settings
    checks: list[Callable[[], list[Problem]]] = [
        lambda: check_syntax(root),
        lambda: check_param_descriptions(root),
        lambda: check_no_secret_literals(root),
        lambda: check_settings_in_bicep(root, settings),
        lambda: check_settings_in_local_sample(root, settings),
        lambda: check_parameters_file(root),
        lambda: check_role_assignments(root),
        lambda: check_alert_metrics(root),
        lambda: check_alerts_resolve(root),
        lambda: check_role_definitions_apart(root),
        lambda: check_azure_yaml(root),
    ]
    return sorted({p for check in checks for p in check()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this repo)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    problems = run_all(root, load_settings(REPO_ROOT))
    for problem in problems:
        print(problem)
    print(f"infra checks: {len(problems)} problem(s)" if problems else "infra checks: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
