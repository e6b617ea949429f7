"""Composition root: builds adapters lazily, once per worker. Tests and the local host override it.

Only this module knows both the adapters and the services. Nothing here runs at import time:
the first request pays for what it uses (cold start), and a part that failed to build (storage
unreachable) is built again on the next call.
"""
from __future__ import annotations

import threading
import tomllib
from typing import TYPE_CHECKING, Any, Callable

from shared.config import Settings
from shared.domain.errors import PolicyError
from shared.domain.policy import Runbook

if TYPE_CHECKING:  # the port types only: nothing more is imported at run time (cold start)
    from shared.ports import AzureAlerts, Chat, Clock, CloudResources, Observers, Pager, RecordStore, \
        Tickets, StatusPage, TokenVerifier
    from shared.services.comms_delivery import Receivers
    from shared.services.escalation import Paging
    from shared.services.remediation import Remedy

_lock = threading.RLock()
_overrides: dict[str, Any] = {}
_built: dict[str, Any] = {}


def override(**parts: Any) -> None:
    """Replace parts of the container (clock=, store=, pager=, resources=, alerts=, settings=, runbook=,
    authorizer=, observers=)."""
    with _lock:
        _overrides.update(parts)
        _built.clear()


def reset() -> None:
    """Forget every override and every built adapter (tests)."""
    with _lock:
        _overrides.clear()
        _built.clear()


def _get(name: str, build: Callable[[], Any]) -> Any:
    if name in _overrides:
        return _overrides[name]
    with _lock:
        if name not in _built:
            _built[name] = build()
        return _built[name]


def settings() -> Settings:
    return _get("settings", Settings.from_env)


def configuration_errors() -> list[str]:
    """Every broken setting and a runbook that cannot be loaded, by name (never a value): for health."""
    if "settings" in _overrides:
        errors: list[str] = []
    else:
        import os
        from shared.config import configuration_errors as check
        errors = check(os.environ)
    if not errors:
        try:
            runbook()
        except PolicyError as e:
            errors.append(str(e))
    return errors


def clock() -> Clock:
    def build() -> Clock:
        from shared.adapters.clock import SystemClock
        return SystemClock()
    return _get("clock", build)


def load_runbook(path: str) -> Runbook:
    import dataclasses
    import os
    from shared.services.retention import periods
    from shared.templates import Templates, shipped
    try:
        with open(path, "rb") as f:
            book = Runbook.from_dict(tomllib.load(f))
        periods(book.sections)  # validated at start-up like the rest of the file
        own = book.comms.templates_dir  # relative to the runbook file; checked here, so a bad template fails start-up
        templates = Templates.from_directory(os.path.join(os.path.dirname(os.path.abspath(path)), own)) if own \
            else shipped()
        return dataclasses.replace(book, templates=templates)
    except OSError as e:
        raise PolicyError(f"RUNBOOK_FILE: cannot read the runbook file ({e.strerror})") from e
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"RUNBOOK_FILE: the runbook is not valid TOML ({e})") from e


def runbook() -> Runbook:
    import dataclasses
    return _get("runbook", lambda: dataclasses.replace(load_runbook(settings().runbook_file),
                                                       core_ids=settings().core_resource_ids))


def receivers() -> Receivers:
    """Chat (Slack Web API when SLACK_BOT_TOKEN and SLACK_CHANNEL are set, else the Slack webhook; and
    Teams), Jira and Statuspage, each when configured. One attempt per call: the outbox reschedules."""
    def build() -> Receivers:
        from shared.services.comms_delivery import Receivers
        s = settings()
        chats: list[Chat] = []
        if s.slack_bot_token and s.slack_channel:
            from shared.adapters.notify.slack import SlackWebApiChat
            chats.append(SlackWebApiChat(token=s.slack_bot_token, channel=s.slack_channel, api_url=s.slack_api_url,
                                         timeout_s=4.0))
        elif s.slack_webhook_url:
            from shared.adapters.notify.slack import SlackWebhookChat
            chats.append(SlackWebhookChat(webhook_url=s.slack_webhook_url, timeout_s=4.0))
        if s.teams_webhook_url:
            from shared.adapters.notify.teams import TeamsWorkflowChat
            chats.append(TeamsWorkflowChat(webhook_url=s.teams_webhook_url, timeout_s=4.0))
        tickets: Tickets | None = None
        page: StatusPage | None = None
        if s.jira_base_url and s.jira_api_token:
            from shared.adapters.notify.jira import JiraTickets
            tickets = JiraTickets(base_url=s.jira_base_url, user=s.jira_user, api_token=s.jira_api_token,
                                  project_key=s.jira_project_key, issue_type=s.jira_issue_type, timeout_s=4.0)
        if s.statuspage_page_id and s.statuspage_api_key:
            from shared.adapters.notify.statuspage import StatuspageStatusPage
            page = StatuspageStatusPage(api_url=s.statuspage_api_url, page_id=s.statuspage_page_id,
                                        api_key=s.statuspage_api_key, timeout_s=4.0)
        return Receivers(chats=tuple(chats), tickets=tickets, status_page=page, done_transition=s.jira_done_transition,
                         components=dict(s.statuspage_components), base_url=s.public_base_url)
    return _get("receivers", build)


def store() -> RecordStore:
    def build() -> RecordStore:
        from shared.adapters.tables.store import TableRecordStore
        s = settings()
        return TableRecordStore.from_settings(connection_string=s.tables_connection_string,
                                              endpoint=s.tables_endpoint, table_name=s.table_name)
    return _get("store", build)


def core() -> dict[str, str]:
    return settings().core_resource_ids


def pager() -> Pager:
    def build() -> Pager:
        from shared.adapters.notify.pagerduty import PagerDutyPager
        s = settings()
        # one attempt per call: the outbox reschedules a failed page, so no timer ever sleeps
        return PagerDutyPager(events_url=s.pagerduty_events_url, client_url=s.public_base_url, max_attempts=1,
                              timeout_s=4.0)
    return _get("pager", build)


def paging() -> Paging:
    """Per call (overrides are read lazily, at most once, when a step fires)."""
    from shared.services.escalation import Paging
    from shared.services.oncall import load_overrides
    return Paging(routable_roles=frozenset(settings().pagerduty_routing_keys),
                  load_overrides=lambda: load_overrides(store()))


def resources() -> CloudResources | None:
    """The ARM adapter, built on first use (azure.mgmt is imported only when a playbook runs). It carries
    the observers (below): the sweep hands diagnostics and verification this object only."""
    def build() -> CloudResources | None:
        s = settings()
        if not s.azure_subscription_id:
            return None
        from shared.adapters.arm.metrics import MonitoredArmResources
        return MonitoredArmResources(endpoint=s.azure_arm_endpoint, subscription_id=s.azure_subscription_id,
                                     observers=observers())
    return _get("resources", build)


def observers() -> Observers:
    """What diagnostics and verification read besides ARM (shared.ports.Observers): the runbook's
    Application Insights query (LOG_ANALYTICS_WORKSPACE_ID), the API's Requests metric (through ARM),
    the health URL and smoke tests. Each part is None or empty when its settings are unset; no SDK is
    imported until a query runs."""
    def build() -> Observers:
        from shared.ports import Observers
        s = settings()
        logs = metrics = http = None
        if s.log_analytics_workspace_id:
            from shared.adapters.arm.logs import LogAnalyticsQueries
            logs = LogAnalyticsQueries(workspace_id=s.log_analytics_workspace_id, endpoint=s.log_analytics_endpoint,
                                       timeout_s=10.0)
        if s.azure_subscription_id:
            from shared.adapters.arm.metrics import ArmMetrics
            metrics = ArmMetrics(endpoint=s.azure_arm_endpoint, timeout_s=10.0)
        if s.api_health_url or s.smoke_tests:
            from shared.adapters.probes import RequestsProbe
            http = RequestsProbe(connect_timeout_s=3.0, read_timeout_s=5.0)
        return Observers(logs=logs, metrics=metrics, http=http, health_url=s.api_health_url,
                         smoke_tests=s.smoke_tests)
    return _get("observers", build)


def alerts() -> AzureAlerts | None:
    """The Alerts Management adapter (reconciliation, alert state), or None without AZURE_SUBSCRIPTION_ID."""
    def build() -> AzureAlerts | None:
        s = settings()
        if not s.azure_subscription_id:
            return None
        from shared.adapters.arm.alerts import ArmAlerts
        return ArmAlerts(endpoint=s.azure_arm_endpoint)
    return _get("alerts", build)


def authorizer() -> TokenVerifier | None:
    """The Entra ID token verifier (shared/adapters/auth/entra.py), or None when AUTH_TENANT_ID and
    AUTH_AUDIENCE are unset: then the function keys are the only gate. Built once per worker, so its
    signing-key cache is shared by every request."""
    def build() -> TokenVerifier | None:
        s = settings()
        if not s.entra_auth:
            return None
        from shared.adapters.auth.entra import EntraTokenVerifier
        return EntraTokenVerifier(tenant_id=s.auth_tenant_id, audiences=s.auth_audiences,
                                  openid_config_url=s.auth_openid_config_url)
    return _get("authorizer", build)


def remedy() -> Remedy:
    from shared.services.remediation import Remedy
    s = settings()
    return Remedy(core=s.core_resource_ids, env_mode=s.remediation_mode, resources=resources)
