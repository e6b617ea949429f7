"""Domain errors. Raised in the core, translated to HTTP once, in functions/http.py."""
from __future__ import annotations


class DomainError(Exception):
    """Base of every error the core raises on purpose."""


class InvalidInput(DomainError):
    """Malformed input. `path` names the offending field as a JSON path (e.g. `$.data.essentials.alertId`)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class UnsupportedSchema(InvalidInput):
    """A well-formed payload that is not the Azure Monitor Common Alert Schema.

    `looks_like` names the schema it resembles; the message says how to turn the common schema on.
    """

    def __init__(self, looks_like: str, message: str, path: str = "$.schemaId"):
        super().__init__(path, message)
        self.looks_like = looks_like


class PayloadTooLarge(DomainError):
    """The request body is over the 1 MiB limit."""


class NotFound(DomainError):
    """No such incident (or other addressed thing)."""


class Conflict(DomainError):
    """A transition that the current state forbids (acknowledging a resolved incident, ...)."""


class Forbidden(DomainError):
    """Authenticated but not allowed (e.g. a remediation on a resource not named in settings)."""


class ConcurrencyConflict(DomainError):
    """An ETag-conditional write lost a race. Callers re-read and retry, within a bound."""


class StoreUnavailable(DomainError):
    """The store (Table Storage) cannot be reached. Answered with 503 so Azure Monitor retries."""


class StoreRejected(DomainError):
    """The store refused a write as malformed or too large (a property over 64 KiB, an entity over
    1 MiB, ...): retrying can never succeed, so it is answered 400, not 503."""


class DependencyFailed(DomainError):
    """An outside service (PagerDuty, ARM, ...) failed after bounded retries. Recorded and retried later."""


class PolicyError(DomainError):
    """runbook.toml or a setting is invalid. The message names the key and what is wrong."""


class Unauthorized(DomainError):
    """No credentials, or a bearer token that does not verify (signature, issuer, tenant, audience,
    lifetime). `invalid_token` is False when none was sent (RFC 6750 §3.1: the challenge then carries
    no error code). The message says what failed and never quotes the token."""

    def __init__(self, message: str, *, invalid_token: bool = True):
        super().__init__(message)
        self.invalid_token = invalid_token
