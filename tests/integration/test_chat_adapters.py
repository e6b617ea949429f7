"""The Chat adapters (Slack incoming webhook, Slack Web API, Teams Workflows webhook) driven through real
`requests` against the loopback fakes: what each backend is sent, how every kind of answer becomes a
Delivery (permanent refusals with a 400-class status, 429 and 5xx retryable with Retry-After, no answer
with status None), the fault helpers, and that no secret reaches a Delivery's detail or a log record."""
from __future__ import annotations

import json
import logging
import socket
from urllib.parse import quote

import pytest
import requests

from shared.adapters.notify.slack import NOT_SUPPORTED, SlackWebApiChat, SlackWebhookChat, message_blocks
from shared.adapters.notify.teams import TeamsWorkflowChat
from shared.ports import ChatPost, Delivery
from tests.fakes.slack import HOOK_SECRET, TOKEN, FakeSlack, block_errors
from tests.fakes.teams import SIG, FakeTeamsWorkflow

PERMANENT = (400, 401, 403, 404)          # what the outbox does not retry (services/outbox.py, _retryable)
POST = ChatPost(incident_id="INC-20261127-0001", severity="SEV-1", subject="[SEV-1] API 5xx in westeurope",
                text="Errors since 03:00.\nImpact: <all> tenants & the status page.",
                link="https://ir.example.com/incidents/INC-20261127-0001?tab=timeline&x=1", ticket="OPS-12",
                facts=(("Severity", "SEV-1"), ("Status", "investigating"), ("Lead", "alice")))
LATER = ChatPost(incident_id=POST.incident_id, severity="SEV-2", subject="[SEV-2] API 5xx: mitigated",
                 text="STATUS: monitoring")


class RecordingSession(requests.Session):
    """A real session that keeps what each POST sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, dict[str, str], dict]] = []

    def post(self, url, data=None, json=None, **kw):   # type: ignore[override]
        self.sent.append((url, dict(kw.get("headers") or {}), _json_loads(data)))
        return super().post(url, data=data, json=json, **kw)


def _json_loads(data):
    return json.loads(data) if data else None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def teams():
    with FakeTeamsWorkflow() as fake:
        yield fake


def api(slack: FakeSlack, **kw) -> SlackWebApiChat:
    return SlackWebApiChat(**{"token": TOKEN, "channel": "#incidents", "api_url": slack.api_url, **kw})


# ---- Slack incoming webhook ------------------------------------------------------------------

def test_the_webhook_posts_the_text_and_blocks_and_cannot_thread_or_edit(slack):
    chat = SlackWebhookChat(webhook_url=slack.webhook_url)
    sent = chat.post(post=POST, thread="C0INCIDENTS/1767225601.000001")
    assert sent.ref == ""
    assert sent.delivery == Delivery(ok=True, attempts=1, status=200, detail="200 ok", history=("200",))
    [msg] = slack.messages
    assert (msg.via, msg.channel, msg.thread_ts) == ("webhook", "C0INCIDENTS", None)
    assert msg.text.splitlines() == ["*[SEV-1] API 5xx in westeurope*", "Errors since 03:00.",
                                     "Impact: &lt;all&gt; tenants &amp; the status page.", "Ticket: OPS-12",
                                     "https://ir.example.com/incidents/INC-20261127-0001?tab=timeline&amp;x=1"]
    assert block_errors(msg.blocks) == []
    assert {"type": "mrkdwn", "text": "*Lead*\nalice"} in msg.blocks[2]["fields"]
    assert chat.update(ref="anything", post=LATER) == NOT_SUPPORTED and slack.requests == 1


@pytest.mark.parametrize("setup, status, text", [
    (lambda s: s.archived.add("C0INCIDENTS"), 410, "channel_is_archived"),
    (lambda s: s.channels.pop("C0INCIDENTS"), 404, "channel_not_found"),
    (lambda s: s.fail_next(status=403, body="action_prohibited"), 403, "action_prohibited"),
])
def test_webhook_refusals_come_back_with_slacks_status_and_words(slack, setup, status, text):
    setup(slack)
    d = SlackWebhookChat(webhook_url=slack.webhook_url).post(post=POST).delivery
    assert (d.ok, d.status, d.detail, d.retry_after) == (False, status, f"{status} {text}", None)
    assert slack.messages == []


def test_a_removed_webhook_is_no_service(slack):
    d = SlackWebhookChat(webhook_url=slack.webhook_url.replace(HOOK_SECRET, "Y" * 24)).post(post=POST).delivery
    assert (d.ok, d.status, d.detail) == (False, 404, "404 no_service")


# ---- Slack Web API -------------------------------------------------------------------------------

def test_the_web_api_posts_replies_in_the_thread_and_updates(slack):
    session = RecordingSession()
    chat = api(slack, session=session)
    first = chat.post(post=POST)
    channel, ts = first.ref.split("/")
    assert first.delivery.ok and first.delivery.status == 200 and channel == "C0INCIDENTS"   # the id, not the name
    reply = chat.post(post=LATER, thread=first.ref)
    assert reply.delivery.ok and reply.ref.startswith("C0INCIDENTS/") and reply.ref != first.ref
    assert [m.ts for m in slack.in_channel("C0INCIDENTS")] == [ts]
    assert [m.text.splitlines()[0] for m in slack.replies("C0INCIDENTS", ts)] == ["*[SEV-2] API 5xx: mitigated*"]

    d = chat.update(ref=first.ref, post=LATER)
    assert (d.ok, d.status, d.attempts, d.detail) == (True, 200, 1, "chat.update: ok")
    assert [(u.ts, u.text.splitlines()[0]) for u in slack.updates] == [(ts, "*[SEV-2] API 5xx: mitigated*")]
    assert slack.message("C0INCIDENTS", ts).text == slack.updates[0].text

    (url, headers, body), (_, _, replied), (update_url, _, edited) = session.sent
    assert url.endswith("/api/chat.postMessage") and update_url.endswith("/api/chat.update")
    assert headers["Authorization"] == f"Bearer {TOKEN}" and headers["Content-Type"].startswith("application/json")
    assert body["channel"] == "#incidents" and body["unfurl_links"] is False and "thread_ts" not in body
    assert (replied["channel"], replied["thread_ts"]) == ("C0INCIDENTS", ts)
    assert (edited["channel"], edited["ts"]) == ("C0INCIDENTS", ts) and edited["blocks"]


def test_long_text_stays_within_slacks_limits(slack):
    huge = ChatPost(incident_id="INC-2", severity="SEV-3", subject="s", text="line of text & more\n" * 10_000)
    sent = api(slack).post(post=huge)
    assert sent.delivery.ok and sent.delivery.detail == "chat.postMessage: ok"   # no truncation warning
    [msg] = slack.messages
    assert len(msg.text) <= 40_000 and len(msg.blocks) == 50 and msg.blocks[-1]["text"]["text"].endswith("…")
    assert all(len(b["text"]["text"]) <= 3000 for b in msg.blocks)
    assert all("&amp" not in b["text"]["text"][-4:] for b in msg.blocks[:-1])   # never cut inside an entity
    assert len(message_blocks(ChatPost(incident_id="i", severity="s", subject="s", text="x" * 7000))) == 4


@pytest.mark.parametrize("setup, kw, status, error", [
    (lambda s: None, {"token": "xoxb-wrong"}, 401, "invalid_auth"),
    (lambda s: None, {"channel": "C0NOPE"}, 404, "channel_not_found"),
    (lambda s: s.members.discard("C0INCIDENTS"), {}, 403, "not_in_channel"),
    (lambda s: s.archived.add("C0INCIDENTS"), {}, 403, "is_archived"),
    (lambda s: s.fail_next(status=200, body={"ok": False, "error": "missing_scope"}), {}, 403, "missing_scope"),
    (lambda s: s.fail_next(status=200, body={"ok": False, "error": "invalid_blocks", "errors": ["x"]}), {}, 400,
     "invalid_blocks"),
])
def test_permanent_slack_errors_get_a_status_the_outbox_does_not_retry(slack, setup, kw, status, error):
    setup(slack)
    sent = api(slack, **kw).post(post=POST)
    assert sent.ref == "" and slack.messages == []
    d = sent.delivery
    assert (d.ok, d.status, d.retry_after, d.history) == (False, status, None, (f"200 {error}",))
    assert d.detail.startswith(f"chat.postMessage: {error}") and status in PERMANENT


def test_updating_a_message_slack_does_not_have_is_message_not_found(slack):
    d = api(slack).update(ref="C0INCIDENTS/1767225699.000099", post=LATER)
    assert (d.ok, d.status, d.detail) == (False, 404, "chat.update: message_not_found")


def test_ratelimited_and_passing_errors_are_retryable(slack):
    chat = api(slack)
    slack.fail_next(status=429, retry_after=7)
    d = chat.post(post=POST).delivery
    assert (d.ok, d.status, d.retry_after, d.detail) == (False, 429, 7.0, "chat.postMessage: ratelimited")
    slack.fail_next(status=200, body={"ok": False, "error": "internal_error"})
    d = chat.post(post=POST).delivery
    assert (d.ok, d.status, d.retry_after) == (False, 503, None) and d.status not in PERMANENT
    assert chat.post(post=POST).delivery.ok


def test_refs_that_name_no_message_are_refused_without_a_call(slack):
    chat = api(slack)
    assert chat.update(ref="nonsense", post=LATER) == Delivery(ok=False, attempts=0, status=400,
                                                                detail="not a Slack message ref")
    assert chat.post(post=POST, thread="C0INCIDENTS").delivery.status == 400 and slack.requests == 0


# ---- Teams Workflows ---------------------------------------------------------------------------

def test_teams_posts_an_adaptive_card(teams):
    chat = TeamsWorkflowChat(webhook_url=teams.webhook_url)
    sent = chat.post(post=POST, thread="ignored")
    assert sent.ref == "" and sent.delivery == Delivery(ok=True, attempts=1, status=202,
                                                        detail="accepted by the workflow", history=("202",))
    assert teams.failed_runs == [] and len(teams.cards) == 1
    card = teams.cards[0]
    assert (card["type"], card["version"], card["$schema"]) == \
        ("AdaptiveCard", "1.4", "http://adaptivecards.io/schemas/adaptive-card.json")
    title, text, facts = card["body"]
    assert title == {"type": "TextBlock", "text": POST.subject, "weight": "Bolder", "size": "Medium", "wrap": True}
    assert text == {"type": "TextBlock", "text": POST.text, "wrap": True}
    assert facts["type"] == "FactSet" and facts["facts"][-2:] == [{"title": "Lead", "value": "alice"},
                                                                   {"title": "Ticket", "value": "OPS-12"}]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the incident", "url": POST.link}]
    assert chat.update(ref="", post=LATER) == NOT_SUPPORTED


def test_a_bare_post_has_no_facts_or_button_and_a_huge_one_is_shortened_to_fit(teams):
    chat = TeamsWorkflowChat(webhook_url=teams.webhook_url)
    assert chat.post(post=LATER).delivery.ok
    assert [e["type"] for e in teams.cards[0]["body"]] == ["TextBlock", "TextBlock"] and teams.cards[0]["actions"] == []
    big = ChatPost(incident_id="INC-3", severity="SEV-1", subject="big", text="é\"<x>\n" * 20_000)
    assert chat.post(post=big).delivery.ok
    assert teams.failed_runs == [] and teams.cards[1]["body"][1]["text"].endswith("…")


def test_the_workflow_accepts_any_json_and_fails_later_where_no_sender_sees_it(teams):
    # the fake's fidelity: a 202 does not mean a card was shown
    r = requests.post(teams.webhook_url, json={"text": "a connector-style message"}, timeout=5)
    assert (r.status_code, r.text) == (202, "") and teams.cards == [] and "'Null'" in teams.failed_runs[0][0]
    form = requests.post(teams.webhook_url, data={"text": "x"}, timeout=5)
    assert form.status_code == 400 and form.json()["error"]["code"] == "InvalidRequestContent"


def test_teams_failures(teams):
    chat = TeamsWorkflowChat(webhook_url=teams.webhook_url)
    d = TeamsWorkflowChat(webhook_url=teams.webhook_url.replace(SIG, "forged")).post(post=POST).delivery
    assert (d.ok, d.status, d.retry_after) == (False, 401, None)
    assert "DirectApiInvalidAuthorizationSignature" in d.detail
    teams.fail_next(status=429, retry_after=2)
    d = chat.post(post=POST).delivery
    assert (d.ok, d.status, d.retry_after) == (False, 429, 2.0)
    teams.fail_next(status=502)
    d = chat.post(post=POST).delivery
    assert (d.ok, d.status, d.detail) == (False, 502, "502 ServiceUnavailable: injected 502")
    assert teams.cards == []


# ---- every adapter: 5xx, no answer, the fault helpers ---------------------------------------------

def adapters(slack: FakeSlack, teams: FakeTeamsWorkflow) -> dict[str, tuple]:
    """name -> (adapter, the fake, how many things the fake has recorded as sent)."""
    return {"webhook": (SlackWebhookChat(webhook_url=slack.webhook_url), slack, lambda: len(slack.messages)),
            "web api": (api(slack), slack, lambda: len(slack.messages)),
            "teams": (TeamsWorkflowChat(webhook_url=teams.webhook_url), teams, lambda: len(teams.cards))}


@pytest.mark.parametrize("name", ["webhook", "web api", "teams"])
def test_a_500_is_a_retryable_failure_and_retry_after_is_passed_on(slack, teams, name):
    chat, fake, count = adapters(slack, teams)[name]
    fake.fail_next(status=500)
    fake.fail_next(status=503, retry_after=3)
    first, second = chat.post(post=POST).delivery, chat.post(post=POST).delivery
    assert (first.ok, first.status, first.retry_after, first.history) == (False, 500, None, ("500",))
    assert (second.ok, second.status, second.retry_after) == (False, 503, 3.0)
    assert count() == 0 and chat.post(post=POST).delivery.ok and count() == 1


@pytest.mark.parametrize("name", ["webhook", "web api", "teams"])
def test_no_answer_is_status_none(name):
    port = closed_port()
    chat = {"webhook": SlackWebhookChat(webhook_url=f"http://127.0.0.1:{port}/services/T000/B000/{HOOK_SECRET}"),
            "web api": SlackWebApiChat(token=TOKEN, channel="C0INCIDENTS", api_url=f"http://127.0.0.1:{port}/api"),
            "teams": TeamsWorkflowChat(webhook_url=f"http://127.0.0.1:{port}/workflows/w/invoke?sig={SIG}")}[name]
    d = chat.post(post=POST).delivery
    assert d == Delivery(ok=False, attempts=1, status=None, detail="network error: ConnectionError",
                         history=("ConnectionError",))


@pytest.mark.parametrize("name", ["webhook", "web api", "teams"])
def test_fail_next_then_a_fault_pattern(slack, teams, name):
    chat, fake, count = adapters(slack, teams)[name]
    fake.fail_next(2)
    fake.fault_pattern([500, None])
    got = [chat.post(post=POST).delivery.status for _ in range(6)]
    ok = 202 if name == "teams" else 200
    assert got == [500, 500, 500, ok, 500, ok] and count() == 2 and fake.requests == 6


@pytest.mark.parametrize("name", ["webhook", "web api", "teams"])
def test_a_lost_answer_was_processed_and_a_retry_sends_it_again(slack, teams, name):
    chat, fake, count = adapters(slack, teams)[name]
    fake.lose_next()
    d = chat.post(post=POST).delivery
    assert (d.ok, d.status, d.detail) == (False, None, "network error: ConnectionError")
    assert count() == 1                                  # the receiver has it: the sender cannot know
    assert chat.post(post=POST).delivery.ok and count() == 2


# ---- the fake Slack behaves as Slack does ------------------------------------------------------------

def web(slack: FakeSlack, method: str, body, *, token: str = TOKEN, ctype: str = "application/json; charset=utf-8"):
    headers = {"Content-Type": ctype, **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.post(f"{slack.api_url}/{method}", data=json.dumps(body), headers=headers, timeout=5).json()


def test_the_fake_web_api_answers_as_slack_does(slack):
    assert web(slack, "chat.postMessage", {"channel": "C0INCIDENTS", "text": "x"}, token="")["error"] == "not_authed"
    assert web(slack, "chat.postMessage", {"channel": "C0INCIDENTS"})["error"] == "no_text"
    assert web(slack, "chat.postMessage", {"channel": "C0INCIDENTS", "text": "x"},
               ctype="application/x-www-form-urlencoded")["error"] == "invalid_post_type"
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}]
    bad = web(slack, "chat.postMessage", {"channel": "C0INCIDENTS", "text": "x", "blocks": too_long})
    assert bad["error"] == "invalid_blocks" and "must be less than 3001 characters" in bad["errors"][0]
    long = web(slack, "chat.postMessage", {"channel": "C0INCIDENTS", "text": "z" * 40_001}, ctype="application/json")
    assert long["ok"] and set(long["response_metadata"]["warnings"]) == {"missing_charset", "message_truncated"}
    assert len(slack.messages[-1].text) == 40_000
    # a reply to a message that does not exist is accepted, and shown nowhere
    orphan = web(slack, "chat.postMessage",
                 {"channel": "C0INCIDENTS", "text": "lost", "thread_ts": "1767225600.123456"})
    assert orphan["ok"] and slack.in_channel("C0INCIDENTS")[-1].text != "lost"
    assert slack.replies("C0INCIDENTS", "1767225600.123456") == []


# ---- secrets -----------------------------------------------------------------------------------------

def test_no_secret_in_any_detail_or_log_record(slack, teams, caplog):
    caplog.set_level(logging.DEBUG)
    port = closed_port()
    secrets = {HOOK_SECRET, slack.webhook_url, TOKEN, SIG, teams.webhook_url}
    deliveries = []
    # receivers echoing what they were sent
    pad = "." * (288 - len("500 no such hook ") - len(slack.webhook_url.removesuffix(HOOK_SECRET)))
    echoes = {"webhook": f"{pad}no such hook {slack.webhook_url}",       # a detail's cut falls inside the secret
              "web api": {"ok": False, "error": f"token {TOKEN} refused"},
              "teams": {"error": {"code": "Echo", "message": f"{teams.webhook_url} sig={SIG}"}}}
    for name, (chat, fake, _) in adapters(slack, teams).items():
        fake.fail_next(status=500, body=echoes[name])
        fake.fail_next(status=429, retry_after=1)
        fake.lose_next()
        deliveries += [chat.post(post=POST).delivery for _ in range(4)]
        deliveries.append(chat.update(ref="C0INCIDENTS/1767225601.000001", post=LATER))
    unreachable = slack.webhook_url.replace(slack.url, f"http://127.0.0.1:{port}")
    deliveries.append(SlackWebhookChat(webhook_url=unreachable).post(post=POST).delivery)
    deliveries.append(SlackWebApiChat(token="xoxb-wrong", channel="C0INCIDENTS", api_url=slack.api_url)
                      .post(post=POST).delivery)
    assert any(d.ok for d in deliveries) and any(d.status is None for d in deliveries)
    assert any(r.name.startswith("urllib3") and "[secret]" in r.getMessage() for r in caplog.records)
    assert any(getattr(r, "incident_id", None) == POST.incident_id for r in caplog.records)
    forms = {f for s in secrets for f in (s, quote(s, safe=""), quote(s))} | \
        {s[i:i + 10] for s in (HOOK_SECRET, TOKEN, SIG) for i in range(len(s) - 9)}   # and any part of one
    for d in deliveries:
        assert not [f for f in forms if f in d.detail], d.detail
    for record in caplog.records:
        assert not [f for f in forms if f in record.getMessage()], record.getMessage()


def test_secret_bearing_urls_must_be_https_or_loopback():
    with pytest.raises(ValueError):
        SlackWebhookChat(webhook_url="http://hooks.slack.com/services/T/B/x")
    with pytest.raises(ValueError):
        TeamsWorkflowChat(webhook_url="http://prod.westus.logic.azure.com/workflows/w?sig=s")
    with pytest.raises(ValueError):
        SlackWebApiChat(token="", channel="C1")
    assert SlackWebhookChat(webhook_url="https://hooks.slack.com/services/T/B/x").name == "slack"
    assert TeamsWorkflowChat(webhook_url="https://x.logic.azure.com/workflows/w?sig=s").name == "teams"
