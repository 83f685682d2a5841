"""The one commit point of a web request (panel_service/web/transaction.py): what a view writes
is committed when it answers < 400, rolled back when it answers >= 400, raises, or discards.

These tests commit for real, on an app of their own with probe routes, and empty the tables
before and after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, redirect
from sqlalchemy import select

from config.settings import Settings
from panel_service import create_app
from panel_service.extensions import csrf, db_session
from panel_service.models import Organisation
from panel_service.services import accounts
from panel_service.web.transaction import discard
from tests.conftest import truncate_all


@pytest.fixture()
def probe_app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings, start_background_jobs=False)
    engine = app.extensions["panel_runtime"].database.engine
    truncate_all(engine)

    @csrf.exempt
    @app.post("/_probe/<outcome>")
    def probe(outcome: str) -> object:
        accounts.get_or_create_organisation(db_session(), f"probe {outcome}")
        if outcome == "redirect":
            return redirect("/")
        if outcome == "refused":
            return "not valid", 422
        if outcome == "discarded":
            discard()
            return redirect("/")
        if outcome == "after-discard":
            discard()
            accounts.get_or_create_organisation(db_session(), "probe written after discard")
            return "ok"
        raise RuntimeError("a bug in a view")

    yield app
    truncate_all(engine)
    app.extensions["panel_runtime"].close()


def _stored(app: Flask) -> list[str]:
    with app.extensions["panel_runtime"].database.session() as session:
        return list(session.scalars(select(Organisation.name).order_by(Organisation.name)))


def test_a_success_or_redirect_is_committed_before_the_answer(probe_app: Flask) -> None:
    response = probe_app.test_client().post("/_probe/redirect")
    assert response.status_code == 302
    assert _stored(probe_app) == ["probe redirect"]


def test_an_error_answer_is_rolled_back(probe_app: Flask) -> None:
    response = probe_app.test_client().post("/_probe/refused")
    assert response.status_code == 422
    assert _stored(probe_app) == []


def test_a_discarded_request_keeps_nothing_even_when_it_redirects(probe_app: Flask) -> None:
    assert probe_app.test_client().post("/_probe/discarded").status_code == 302
    assert probe_app.test_client().post("/_probe/after-discard").status_code == 200
    assert _stored(probe_app) == []


def test_an_exception_in_a_view_is_rolled_back(probe_app: Flask) -> None:
    with pytest.raises(RuntimeError):
        probe_app.test_client().post("/_probe/raises")
    assert _stored(probe_app) == []
