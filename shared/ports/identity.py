"""Identity: the verified caller of an operator route or of the alert webhook."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

_ACTOR_OID = re.compile(r" \(oid ([0-9A-Za-z-]{1,64})\)$")


@dataclass(frozen=True)
class Principal:
    """A caller whose Entra ID access token verified.

    `oid` is the immutable object id of the user or service principal; `name` is for display only
    (`name` or `preferred_username`, or the client's app id for an app-only token); `roles` are the
    app roles assigned to it on this app's registration (the token's `roles` claim).
    """
    oid: str
    name: str
    roles: frozenset[str] = frozenset()
    app_id: str = ""

    @property
    def actor(self) -> str:
        """Who acts, as the timeline shows it: "Alice Smith (oid 1234...)"."""
        return f"{self.name} (oid {self.oid})"


def actor_oid(actor: str) -> str:
    """The object id in an actor name that Principal.actor wrote; "" for any other name. Sound because
    a request body may never claim a name of that shape (functions/access.py, is_reserved)."""
    found = _ACTOR_OID.search(actor)
    return found.group(1) if found else ""


class TokenVerifier(Protocol):
    def verify(self, *, token: str) -> Principal:
        """The principal of an access token that the configured tenant issued for the configured
        audience, signed RS256 with one of the tenant's published keys, within its lifetime. Raises
        Unauthorized (saying what failed) for any other token, and DependencyFailed when the tenant's
        OpenID configuration or signing keys cannot be read (the caller may retry)."""
