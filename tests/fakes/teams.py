"""FakeTeamsWorkflow: a loopback stand-in for a Microsoft Teams Workflows webhook (the Power Automate flow
"Post to a channel when a webhook request is received": trigger "When a Teams webhook request is received",
then "Post card in a chat or channel" for each attachment).

    POST /workflows/<id>/triggers/manual/paths/invoke?api-version=2016-06-01&sp=...&sv=1.0&sig=<secret>

As the real trigger does, it answers 202 Accepted with an empty body to any JSON it is given, before
the flow runs (robusta-dev/robusta#2113, Skitionek/notify-microsoft-teams#98); what the flow then makes
of the body shows only in its run history: a body without `attachments` fails the flow's loop over them
(abahmed/kwatch#403, BookStackApp/BookStack#5437), and Teams refuses a message over about 28 KB with
"Request Entity too large" (Microsoft Learn, https://learn.microsoft.com/en-us/connectors/teams/, known
issues and limitations). So `cards` holds the cards the channel shows and `failed_runs` the reasons of
runs that posted nothing. The card checks follow the documented body (Microsoft Learn, connectors/teams,
"Microsoft Teams webhook" request body; https://adaptivecards.io/explorer/AdaptiveCard.html): type
"message", attachments of contentType application/vnd.microsoft.card.adaptive whose content is an
AdaptiveCard with a version and a body list; the real flow may be more lenient about the envelope.

Before the flow: a body that is not JSON is refused with 400 (secureCodeBox/secureCodeBox#2664: a form
post gets 400, the same body as JSON 202), a missing or wrong `sig` with 401, another path with 404 (the
error codes in these answers are the Logic Apps envelope as seen in the field, not from a reference
page). The size check measures the whole body, an approximation of Teams' own. Faults: tests.fakes.slack.ChatFake.
"""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.fakes.slack import ChatFake

SIG = "Fake-Workflow-Signature-0000"
WORKFLOW = "0f1e2d3c4b5a49687766554433221100"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
MESSAGE_MAX_BYTES = 28 * 1024
_VERSION = re.compile(r"^1\.\d+$")


def card_errors(message: Any) -> list[str]:
    """Why the flow would post nothing for this body; empty when each attachment becomes a card."""
    if not isinstance(message, dict) or not isinstance(message.get("attachments"), list):
        return ["the result of the evaluation of 'foreach' expression '@triggerBody()?['attachments']' "
                "is of type 'Null'. The result must be a valid array."]
    errors = [] if message.get("type") == "message" else ["type must be 'message'"]
    if not message["attachments"]:
        errors.append("no attachments")
    for i, att in enumerate(message["attachments"]):
        content = att.get("content") if isinstance(att, dict) else None
        if not isinstance(att, dict) or att.get("contentType") != CARD_TYPE:
            errors.append(f"attachments[{i}].contentType must be {CARD_TYPE}")
        elif not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
            errors.append(f"attachments[{i}].content.type must be AdaptiveCard")
        else:
            if not _VERSION.match(str(content.get("version", ""))):
                errors.append(f"attachments[{i}].content.version must be a card version such as 1.4")
            if not isinstance(content.get("body"), list) or \
                    not all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in content["body"]):
                errors.append(f"attachments[{i}].content.body must be a list of elements with a type")
    if len(json.dumps(message).encode()) > MESSAGE_MAX_BYTES:
        errors.append("Request Entity too large")
    return errors


class FakeTeamsWorkflow(ChatFake):
    def __init__(self, *, sig: str = SIG, workflow: str = WORKFLOW):
        super().__init__()
        self.sig = sig
        self.path = f"/workflows/{workflow}/triggers/manual/paths/invoke"
        self.cards: list[dict[str, Any]] = []          # the Adaptive Cards the channel shows
        self.failed_runs: list[list[str]] = []         # per flow run that posted nothing: why
        self.answers: list[tuple[int, bool]] = []      # (status, lost) per request

    @property
    def webhook_url(self) -> str:
        query = urlencode({"api-version": "2016-06-01", "sp": "/triggers/manual/run", "sv": "1.0", "sig": self.sig})
        return f"{self.url}{self.path}?{query}"

    def answer(self, path: str, query: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        if path != self.path:
            return 404, {"error": {"code": "WorkflowNotFound", "message": "The workflow could not be found."}}
        sig = parse_qs(query).get("sig", [""])[0]
        if not sig:
            return 401, {"error": {"code": "DirectApiAuthorizationRequired",
                                   "message": "The request must be authenticated."}}
        if sig != self.sig:
            return 401, {"error": {"code": "DirectApiInvalidAuthorizationSignature",
                                   "message": "The provided authorization signature is not valid."}}
        try:
            if (headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
                raise ValueError("not JSON")
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return 400, {"error": {"code": "InvalidRequestContent",
                                   "message": "The request content is not valid and could not be deserialized."}}
        errors = card_errors(message)      # the flow's run, after the trigger has answered
        if errors:
            self.failed_runs.append(errors)
        else:
            self.cards += [att["content"] for att in message["attachments"]]
        return 202, None

    def fault_body(self, path: str, status: int) -> Any:
        # 429: the flow service's throttling (Microsoft Learn, azure/logic-apps/handle-throttling-problems-429-errors)
        code = "TooManyRequests" if status == 429 else "ServiceUnavailable" if status >= 500 else "Failed"
        return {"error": {"code": code, "message": f"injected {status}"}}

    def answered(self, path: str, status: int, body: Any, lost: bool) -> None:
        self.answers.append((status, lost))
