"""Settings: one frozen object read from the environment. Every setting name appears here once.

Azure Functions exposes app settings as environment variables; the local host loads
`local.settings.json` into the environment first. Nothing else in the app reads os.environ.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from shared.domain.errors import PolicyError

DEFAULT_RUNBOOK = str(Path(__file__).resolve().parent.parent / "runbook.toml")

# name -> default ("" means unset). The single list of settings the app reads (FUNCTIONS_KEY is the
# local host's); the Bicep and local.settings.sample.json are checked against it by tests.
SETTINGS: dict[str, str] = {
    "TABLES_CONNECTION_STRING": "",
    "TABLES_ENDPOINT": "",
    "TABLE_NAME": "incidents",
    "FUNCTIONS_KEY": "",
    "PUBLIC_BASE_URL": "",
    "ESCALATION_SCHEDULE": "*/10 * * * * *",
    "RECONCILE_SCHEDULE": "0 */2 * * * *",
    # checked every 15 minutes; the digest goes out once, at 09:00 in the calendar's time zone on working days
    "REVIEW_SCHEDULE": "0 */15 * * * *",
    "PAGERDUTY_EVENTS_URL": "https://events.pagerduty.com/v2/enqueue",
    "PAGERDUTY_ROUTING_KEYS": "",
    "SLACK_WEBHOOK_URL": "",
    "SLACK_BOT_TOKEN": "",
    "SLACK_CHANNEL": "",
    "SLACK_API_URL": "https://slack.com/api",
    "TEAMS_WEBHOOK_URL": "",
    "JIRA_BASE_URL": "",
    "JIRA_USER": "",
    "JIRA_API_TOKEN": "",
    "JIRA_PROJECT_KEY": "",
    "JIRA_ISSUE_TYPE": "Task",
    "JIRA_DONE_TRANSITION": "Done",
    "STATUSPAGE_API_URL": "https://api.statuspage.io/v1",
    "STATUSPAGE_PAGE_ID": "",
    "STATUSPAGE_API_KEY": "",
    "STATUSPAGE_COMPONENTS": "",
    "AZURE_SUBSCRIPTION_ID": "",
    "AZURE_ARM_ENDPOINT": "https://management.azure.com",
    "API_CONTAINER_APP_ID": "",
    "POSTGRES_SERVER_ID": "",
    "REDIS_CACHE_ID": "",
    "REMEDIATION_MODE": "dry-run",
    "RUNBOOK_FILE": "",
    # Entra ID (README, Security): on when tenant and audience are both set; {tenant} is replaced
    "AUTH_TENANT_ID": "",
    "AUTH_AUDIENCE": "",
    "AUTH_OPENID_CONFIG_URL": "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration",
    "ALERT_WEBHOOK_AUTH": "",
    # runbook step 2's Application Insights query and step 4's verification (README, Remediation)
    "LOG_ANALYTICS_WORKSPACE_ID": "",
    "LOG_ANALYTICS_ENDPOINT": "https://api.loganalytics.io/v1",
    "API_HEALTH_URL": "",
    "SMOKE_TEST_URLS": "",
}
REMEDIATION_MODES = ("off", "dry-run", "approval", "auto")
# App Service writes a reference it could not resolve (vault unreachable, no access, secret missing)
# into the environment as the reference text itself.
_UNRESOLVED = {"@microsoft.keyvault(": "Key Vault", "@microsoft.appconfiguration(": "App Configuration"}
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")  # Table Storage's rule for table names


def _value(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or SETTINGS[name]).strip()


def _routing_keys(raw: str) -> tuple[dict[str, str], str | None]:
    """PAGERDUTY_ROUTING_KEYS parsed, or ({}, what is wrong). Never quotes the value (it holds keys)."""
    try:
        keys = json.loads(raw) if raw else {}
    except json.JSONDecodeError as e:
        return {}, f"is not a JSON object ({e.msg} at character {e.pos})"
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        return {}, "must be a JSON object of role -> routing key"
    return keys, None


def configuration_errors(env: Mapping[str, str]) -> list[str]:
    """Every broken setting, one "SETTING_NAME: what is wrong" line each, naming the setting and never
    its value (values are secrets). Pure: reads `env` only. Empty when Settings.from_env(env) succeeds.

    Checks: an unresolved Key Vault (or App Configuration) reference in any setting, a table name
    Table Storage would refuse, PAGERDUTY_ROUTING_KEYS that is not a JSON object of strings, an unknown
    REMEDIATION_MODE, the Entra ID settings, the diagnostics query's and verification's settings (a
    workspace id that is not a GUID, URLs, SMOKE_TEST_URLS). (The runbook file is checked by
    bootstrap.load_runbook.)
    """
    errors = []
    unresolved = set()
    for name in SETTINGS:
        value = (env.get(name) or "").strip().lower()
        source = next((what for prefix, what in _UNRESOLVED.items() if value.startswith(prefix)), None)
        if source:
            unresolved.add(name)
            errors.append(f"{name}: unresolved {source} reference (the app got the reference text, not the "
                          f"secret: check that the secret exists and that the app's identity may read it)")
    if "TABLE_NAME" not in unresolved and not _TABLE_NAME.fullmatch(_value(env, "TABLE_NAME")):
        errors.append("TABLE_NAME: must be 3 to 63 letters and digits, starting with a letter")
    if "PAGERDUTY_ROUTING_KEYS" not in unresolved:
        problem = _routing_keys(_value(env, "PAGERDUTY_ROUTING_KEYS"))[1]
        if problem:
            errors.append(f"PAGERDUTY_ROUTING_KEYS: {problem}")
    if "REMEDIATION_MODE" not in unresolved and _value(env, "REMEDIATION_MODE") not in REMEDIATION_MODES:
        errors.append(f"REMEDIATION_MODE: must be one of {', '.join(REMEDIATION_MODES)}")
    return errors + _auth_errors(env, unresolved) + _observer_errors(env, unresolved) + _comms_errors(env, unresolved)


@dataclass(frozen=True)
class Settings:
    tables_connection_string: str = ""
    tables_endpoint: str = ""
    table_name: str = "incidents"
    public_base_url: str = ""
    escalation_schedule: str = SETTINGS["ESCALATION_SCHEDULE"]
    reconcile_schedule: str = SETTINGS["RECONCILE_SCHEDULE"]
    pagerduty_events_url: str = SETTINGS["PAGERDUTY_EVENTS_URL"]
    pagerduty_routing_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    slack_webhook_url: str = field(default="", repr=False)
    slack_bot_token: str = field(default="", repr=False)
    slack_channel: str = ""
    slack_api_url: str = SETTINGS["SLACK_API_URL"]
    teams_webhook_url: str = field(default="", repr=False)
    jira_base_url: str = ""
    jira_user: str = ""
    jira_api_token: str = field(default="", repr=False)
    jira_project_key: str = ""
    jira_issue_type: str = SETTINGS["JIRA_ISSUE_TYPE"]
    jira_done_transition: str = SETTINGS["JIRA_DONE_TRANSITION"]
    statuspage_api_url: str = SETTINGS["STATUSPAGE_API_URL"]
    statuspage_page_id: str = ""
    statuspage_api_key: str = field(default="", repr=False)
    statuspage_components: Mapping[str, str] = field(default_factory=dict)   # core role -> component id
    azure_subscription_id: str = ""
    azure_arm_endpoint: str = SETTINGS["AZURE_ARM_ENDPOINT"]
    api_container_app_id: str = ""
    postgres_server_id: str = ""
    redis_cache_id: str = ""
    remediation_mode: str = "dry-run"
    runbook_file: str = DEFAULT_RUNBOOK
    auth_tenant_id: str = ""
    auth_audiences: tuple[str, ...] = ()
    auth_openid_config_url: str = ""
    alert_webhook_auth: str = ""
    log_analytics_workspace_id: str = ""
    log_analytics_endpoint: str = SETTINGS["LOG_ANALYTICS_ENDPOINT"]
    api_health_url: str = ""
    smoke_tests: tuple[tuple[str, int], ...] = ()     # (url, expected status)

    @property
    def entra_auth(self) -> bool:
        """Operator routes need an Entra ID token (AUTH_TENANT_ID and AUTH_AUDIENCE are set)."""
        return bool(self.auth_tenant_id and self.auth_audiences)

    @property
    def core_resource_ids(self) -> dict[str, str]:
        """Role -> ARM id (lower-cased) of the platform's core resources that are configured."""
        pairs = {"api": self.api_container_app_id, "postgres": self.postgres_server_id,
                 "redis": self.redis_cache_id}
        return {k: v.lower() for k, v in pairs.items() if v}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read every setting. Raises PolicyError listing configuration_errors(env) (names, never values)."""
        env = os.environ if env is None else env
        errors = configuration_errors(env)
        if errors:
            raise PolicyError("; ".join(errors))

        def get(name: str) -> str:
            return _value(env, name)

        keys = _routing_keys(get("PAGERDUTY_ROUTING_KEYS"))[0]
        mode = get("REMEDIATION_MODE")
        return cls(
            tables_connection_string=get("TABLES_CONNECTION_STRING"),
            tables_endpoint=get("TABLES_ENDPOINT"),
            table_name=get("TABLE_NAME"),
            public_base_url=get("PUBLIC_BASE_URL").rstrip("/"),
            escalation_schedule=get("ESCALATION_SCHEDULE"),
            reconcile_schedule=get("RECONCILE_SCHEDULE"),
            pagerduty_events_url=get("PAGERDUTY_EVENTS_URL"),
            pagerduty_routing_keys=keys,
            slack_webhook_url=get("SLACK_WEBHOOK_URL"),
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_channel=get("SLACK_CHANNEL"),
            slack_api_url=get("SLACK_API_URL").rstrip("/"),
            teams_webhook_url=get("TEAMS_WEBHOOK_URL"),
            jira_base_url=get("JIRA_BASE_URL"),
            jira_user=get("JIRA_USER"),
            jira_api_token=get("JIRA_API_TOKEN"),
            jira_project_key=get("JIRA_PROJECT_KEY"),
            jira_issue_type=get("JIRA_ISSUE_TYPE"),
            jira_done_transition=get("JIRA_DONE_TRANSITION"),
            statuspage_api_url=get("STATUSPAGE_API_URL"),
            statuspage_page_id=get("STATUSPAGE_PAGE_ID"),
            statuspage_api_key=get("STATUSPAGE_API_KEY"),
            statuspage_components=_components(get("STATUSPAGE_COMPONENTS"))[0],
            azure_subscription_id=get("AZURE_SUBSCRIPTION_ID"),
            azure_arm_endpoint=get("AZURE_ARM_ENDPOINT").rstrip("/"),
            api_container_app_id=get("API_CONTAINER_APP_ID"),
            postgres_server_id=get("POSTGRES_SERVER_ID"),
            redis_cache_id=get("REDIS_CACHE_ID"),
            remediation_mode=mode,
            runbook_file=get("RUNBOOK_FILE") or DEFAULT_RUNBOOK,
            auth_tenant_id=get("AUTH_TENANT_ID").lower(),
            auth_audiences=_audiences(get("AUTH_AUDIENCE")),
            auth_openid_config_url=get("AUTH_OPENID_CONFIG_URL").replace("{tenant}", get("AUTH_TENANT_ID").lower())
            if get("AUTH_TENANT_ID") else "",
            alert_webhook_auth=get("ALERT_WEBHOOK_AUTH").lower(),
            log_analytics_workspace_id=get("LOG_ANALYTICS_WORKSPACE_ID").lower(),
            log_analytics_endpoint=get("LOG_ANALYTICS_ENDPOINT").rstrip("/"),
            api_health_url=get("API_HEALTH_URL"),
            smoke_tests=_smoke_tests(get("SMOKE_TEST_URLS"))[0],
        )


# ---- Entra ID settings ---------------------------------------------------------------------------

WEBHOOK_AUTH_MODES = ("", "entra")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_LOOPBACK_HTTP = re.compile(r"http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)")


def _audiences(raw: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in raw.split(",") if a.strip())


def _auth_errors(env: Mapping[str, str], unresolved: set[str]) -> list[str]:
    """Half-configured authorization is refused rather than silently off: a tenant without an
    audience (or the reverse), a tenant that is not an id (tokens name it by id), a secure webhook
    without both, an OpenID configuration that is not https (loopback http is for tests)."""
    tenant, audience = _value(env, "AUTH_TENANT_ID"), _audiences(_value(env, "AUTH_AUDIENCE"))
    webhook, config_url = _value(env, "ALERT_WEBHOOK_AUTH").lower(), _value(env, "AUTH_OPENID_CONFIG_URL")
    errors: list[str] = []
    if {"AUTH_TENANT_ID", "AUTH_AUDIENCE", "ALERT_WEBHOOK_AUTH", "AUTH_OPENID_CONFIG_URL"} & unresolved:
        return errors
    if bool(tenant) != bool(audience):
        missing = "AUTH_AUDIENCE" if tenant else "AUTH_TENANT_ID"
        errors.append(f"{missing}: must be set too: Entra ID authorization needs both AUTH_TENANT_ID and AUTH_AUDIENCE")
    if tenant and not _GUID.fullmatch(tenant):
        errors.append("AUTH_TENANT_ID: must be the tenant id (a GUID), not a domain name: tokens name their "
                      "tenant by id")
    if webhook not in WEBHOOK_AUTH_MODES:
        errors.append("ALERT_WEBHOOK_AUTH: must be entra or empty")
    elif webhook == "entra" and not (tenant and audience):
        errors.append("ALERT_WEBHOOK_AUTH: entra needs AUTH_TENANT_ID and AUTH_AUDIENCE (the secure webhook's tenant "
                      "and app registration)")
    if not (config_url.startswith("https://") or _LOOPBACK_HTTP.match(config_url)):
        errors.append("AUTH_OPENID_CONFIG_URL: must be an https URL (plain http only on a loopback address)")
    return errors


# ---- diagnostics query and verification probes (runbook steps 2 and 4) ------------------------

from urllib.parse import urlsplit  # noqa: E402  (appended section: the header's imports stay untouched)

MAX_SMOKE_TESTS = 10      # each is one bounded GET per verification round


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _smoke_tests(raw: str) -> tuple[tuple[tuple[str, int], ...], str | None]:
    """SMOKE_TEST_URLS parsed: a JSON list of URLs or of {"url", "status"} objects (status defaults to
    200), or ((), what is wrong). Never quotes a value: a URL may carry a key."""
    try:
        items = json.loads(raw) if raw else []
    except json.JSONDecodeError as e:
        return (), f"is not a JSON list ({e.msg} at character {e.pos})"
    if not isinstance(items, list) or len(items) > MAX_SMOKE_TESTS:
        return (), f"must be a JSON list of at most {MAX_SMOKE_TESTS} URLs or {{\"url\", \"status\"}} objects"
    tests = []
    for i, item in enumerate(items):
        url, status = (item, 200) if isinstance(item, str) else \
            ((item.get("url"), item.get("status", 200)) if isinstance(item, dict) else (None, None))
        if not isinstance(url, str) or not _http_url(url.strip()):
            return (), f"item {i}: url must be an absolute http or https URL"
        if type(status) is not int or not 100 <= status <= 599:
            return (), f"item {i}: status must be an HTTP status code (100-599)"
        tests.append((url.strip(), status))
    return tuple(tests), None


def _observer_errors(env: Mapping[str, str], unresolved: set[str]) -> list[str]:
    errors = []
    workspace = _value(env, "LOG_ANALYTICS_WORKSPACE_ID")
    if "LOG_ANALYTICS_WORKSPACE_ID" not in unresolved and workspace and not _GUID.fullmatch(workspace):
        errors.append("LOG_ANALYTICS_WORKSPACE_ID: must be the workspace id (a GUID, the workspace's customerId), "
                      "not its name or ARM id")
    endpoint = _value(env, "LOG_ANALYTICS_ENDPOINT").rstrip("/")
    if "LOG_ANALYTICS_ENDPOINT" not in unresolved and not (
            _http_url(endpoint) and urlsplit(endpoint).path in ("", "/v1") and not urlsplit(endpoint).query
            and (endpoint.startswith("https://") or _LOOPBACK_HTTP.match(endpoint + "/"))):
        errors.append("LOG_ANALYTICS_ENDPOINT: must be an https origin, optionally with /v1 (plain http only "
                      "on a loopback address)")
    health = _value(env, "API_HEALTH_URL")
    if "API_HEALTH_URL" not in unresolved and health and not _http_url(health):
        errors.append("API_HEALTH_URL: must be an absolute http or https URL")
    if "SMOKE_TEST_URLS" not in unresolved:
        problem = _smoke_tests(_value(env, "SMOKE_TEST_URLS"))[1]
        if problem:
            errors.append(f"SMOKE_TEST_URLS: {problem}")
    return errors


# ---- communications: chat, Jira, Statuspage (README, Communications) ---------------------------

_CORE_ROLES = ("api", "postgres", "redis")


def _components(raw: str) -> tuple[dict[str, str], str | None]:
    """STATUSPAGE_COMPONENTS parsed: core role -> Statuspage component id, or ({}, what is wrong)."""
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError as e:
        return {}, f"is not a JSON object ({e.msg} at character {e.pos})"
    if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
        return {}, "must be a JSON object of core role (api, postgres, redis) -> component id"
    unknown = sorted(set(value) - set(_CORE_ROLES))
    if unknown:
        return {}, f"unknown core role(s) {', '.join(k[:40] for k in unknown)}: use api, postgres, redis"
    return value, None


def _comms_errors(env: Mapping[str, str], unresolved: set[str]) -> list[str]:
    """Half-configured receivers are named instead of silently not sending: a Slack bot token without
    its channel (or the reverse), a Jira or Statuspage setting without the others it needs, a receiver
    URL that is not http(s)."""
    errors = []
    if "STATUSPAGE_COMPONENTS" not in unresolved:
        problem = _components(_value(env, "STATUSPAGE_COMPONENTS"))[1]
        if problem:
            errors.append(f"STATUSPAGE_COMPONENTS: {problem}")
    groups = (("SLACK_BOT_TOKEN", "SLACK_CHANNEL"),
              ("JIRA_BASE_URL", "JIRA_USER", "JIRA_API_TOKEN", "JIRA_PROJECT_KEY"),
              ("STATUSPAGE_PAGE_ID", "STATUSPAGE_API_KEY"))
    for names in groups:
        present = [n for n in names if (env.get(n) or "").strip()]
        if present and len(present) < len(names) and not set(names) & unresolved:
            missing = [n for n in names if n not in present]
            errors.append(f"{missing[0]}: must be set too ({', '.join(present)} is set without {', '.join(missing)})")
    for name in ("SLACK_WEBHOOK_URL", "TEAMS_WEBHOOK_URL", "SLACK_API_URL", "JIRA_BASE_URL", "STATUSPAGE_API_URL"):
        value = _value(env, name)
        if value and name not in unresolved and not _http_url(value):
            errors.append(f"{name}: must be an http(s) URL")
    return errors
