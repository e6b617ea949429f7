"""Settings: one frozen object read from the environment. Every setting name appears here once.

Azure Functions exposes app settings as environment variables; the local host loads
`local.settings.json` into the environment first. Nothing else in the app reads os.environ.
"""
from __future__ import annotations

import json
import os
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
    "PAGERDUTY_EVENTS_URL": "https://events.pagerduty.com/v2/enqueue",
    "PAGERDUTY_ROUTING_KEYS": "",
    "SLACK_WEBHOOK_URL": "",
    "JIRA_BASE_URL": "",
    "JIRA_USER": "",
    "JIRA_API_TOKEN": "",
    "JIRA_PROJECT_KEY": "",
    "STATUSPAGE_API_URL": "https://api.statuspage.io/v1",
    "STATUSPAGE_PAGE_ID": "",
    "STATUSPAGE_API_KEY": "",
    "AZURE_SUBSCRIPTION_ID": "",
    "AZURE_ARM_ENDPOINT": "https://management.azure.com",
    "API_CONTAINER_APP_ID": "",
    "POSTGRES_SERVER_ID": "",
    "REDIS_CACHE_ID": "",
    "REMEDIATION_MODE": "dry-run",
    "RUNBOOK_FILE": "",
}
REMEDIATION_MODES = ("off", "dry-run", "approval", "auto")


@dataclass(frozen=True)
class Settings:
    tables_connection_string: str = ""
    tables_endpoint: str = ""
    table_name: str = "incidents"
    public_base_url: str = ""
    escalation_schedule: str = SETTINGS["ESCALATION_SCHEDULE"]
    pagerduty_events_url: str = SETTINGS["PAGERDUTY_EVENTS_URL"]
    pagerduty_routing_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    slack_webhook_url: str = field(default="", repr=False)
    jira_base_url: str = ""
    jira_user: str = ""
    jira_api_token: str = field(default="", repr=False)
    jira_project_key: str = ""
    statuspage_api_url: str = SETTINGS["STATUSPAGE_API_URL"]
    statuspage_page_id: str = ""
    statuspage_api_key: str = field(default="", repr=False)
    azure_subscription_id: str = ""
    azure_arm_endpoint: str = SETTINGS["AZURE_ARM_ENDPOINT"]
    api_container_app_id: str = ""
    postgres_server_id: str = ""
    redis_cache_id: str = ""
    remediation_mode: str = "dry-run"
    runbook_file: str = DEFAULT_RUNBOOK

    @property
    def core_resource_ids(self) -> dict[str, str]:
        """Role -> ARM id (lower-cased) of the platform's core resources that are configured."""
        pairs = {"api": self.api_container_app_id, "postgres": self.postgres_server_id,
                 "redis": self.redis_cache_id}
        return {k: v.lower() for k, v in pairs.items() if v}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read every setting; raises PolicyError naming the setting when one is malformed."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return (env.get(name) or SETTINGS[name]).strip()

        keys_raw = get("PAGERDUTY_ROUTING_KEYS")
        try:
            keys = json.loads(keys_raw) if keys_raw else {}
        except json.JSONDecodeError as e:
            raise PolicyError(f"PAGERDUTY_ROUTING_KEYS is not a JSON object: {e.msg}") from e
        if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
            raise PolicyError("PAGERDUTY_ROUTING_KEYS must be a JSON object of role -> routing key")
        mode = get("REMEDIATION_MODE")
        if mode not in REMEDIATION_MODES:
            raise PolicyError(f"REMEDIATION_MODE must be one of {', '.join(REMEDIATION_MODES)}, not {mode!r}")
        return cls(
            tables_connection_string=get("TABLES_CONNECTION_STRING"),
            tables_endpoint=get("TABLES_ENDPOINT"),
            table_name=get("TABLE_NAME"),
            public_base_url=get("PUBLIC_BASE_URL").rstrip("/"),
            escalation_schedule=get("ESCALATION_SCHEDULE"),
            pagerduty_events_url=get("PAGERDUTY_EVENTS_URL"),
            pagerduty_routing_keys=keys,
            slack_webhook_url=get("SLACK_WEBHOOK_URL"),
            jira_base_url=get("JIRA_BASE_URL"),
            jira_user=get("JIRA_USER"),
            jira_api_token=get("JIRA_API_TOKEN"),
            jira_project_key=get("JIRA_PROJECT_KEY"),
            statuspage_api_url=get("STATUSPAGE_API_URL"),
            statuspage_page_id=get("STATUSPAGE_PAGE_ID"),
            statuspage_api_key=get("STATUSPAGE_API_KEY"),
            azure_subscription_id=get("AZURE_SUBSCRIPTION_ID"),
            azure_arm_endpoint=get("AZURE_ARM_ENDPOINT").rstrip("/"),
            api_container_app_id=get("API_CONTAINER_APP_ID"),
            postgres_server_id=get("POSTGRES_SERVER_ID"),
            redis_cache_id=get("REDIS_CACHE_ID"),
            remediation_mode=mode,
            runbook_file=get("RUNBOOK_FILE") or DEFAULT_RUNBOOK,
        )
