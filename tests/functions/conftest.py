"""Fixtures for calling the registered trigger functions with real func.HttpRequest objects."""
from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from shared import bootstrap
from shared.config import Settings
from tests.payloads import CORE_SETTINGS


class App:
    """The app's own registered functions, looked up by name in function_app.app."""

    _functions: dict | None = None

    def __init__(self):
        if App._functions is None:  # the app indexes its functions once, as the worker does
            import function_app
            function_app.app.functions_bindings = None  # get_functions() rejects the names it has seen
            App._functions = {f.get_function_name(): f.get_user_function()
                              for f in function_app.app.get_functions()}
        self.functions = App._functions

    def call(self, name: str, *, method: str = "POST", body: Any = None, raw: bytes | None = None,
             route: dict | None = None, params: dict | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        req = func.HttpRequest(method=method, url=f"http://localhost/api/{name}", body=data,
                               headers={"content-type": "application/json"}, route_params=route or {},
                               params=params or {})
        resp = self.functions[name](req)
        text = resp.get_body().decode()
        if text and not (resp.mimetype or "").endswith("json"):   # the public page's HTML and Atom
            return resp.status_code, text
        return resp.status_code, (json.loads(text) if text else None)


@pytest.fixture
def settings(monkeypatch) -> Settings:
    return Settings.from_env({**CORE_SETTINGS, "PAGERDUTY_ROUTING_KEYS": "{}"})


@pytest.fixture
def app(table_store, clock, settings):
    bootstrap.override(store=table_store, clock=clock, settings=settings)
    return App()
