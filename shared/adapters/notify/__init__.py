"""Outbound notification adapters: one backend per file (PagerDuty, Slack, Jira, Statuspage)."""
