"""The timeline says what really happened: nothing reads "sent" that was not delivered."""
from __future__ import annotations

from tests.harness import Harness
from tests.payloads import metric_alert


def test_a_queued_chat_message_is_never_called_sent(memory_store, clock):
    h = Harness(memory_store, clock)
    inc = h.alert(metric_alert("a1", severity="Sev0", custom={"impact": "core", "scope": "all"}))["incident_id"]
    h.run_for(2)
    events = h.show(inc)["timeline"]
    chat = [e["text"] for e in events if "chat" in e["text"].lower()]
    assert chat, events
    assert not any("sent with" in t or ": sent" in t for t in chat), chat
    outcomes = [e["text"] for e in events if e["kind"] == "delivery" and e["text"].lower().startswith("chat")]
    assert outcomes and all("not sent" in t and "delivered" not in t.replace("nothing was delivered", "")
                            for t in outcomes), outcomes
