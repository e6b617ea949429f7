"""Continuation tokens the API hands out, as the store makes them.

    inc|<14 digits>    the incident list's: the key of the last incident row of the page before
                       (IncidentRepository.list: the store's continuation)
"""
from __future__ import annotations

import re

_INCIDENT_LIST = re.compile(r"inc\|[0-9]{14}")


def is_incident_list_token(token: str) -> bool:
    """Whether `token` can be a continuation of the incident list (the only tokens the store is given)."""
    return _INCIDENT_LIST.fullmatch(token) is not None
