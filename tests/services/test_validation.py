"""The shared text rules of services/validation.py, and the names and emails built on them."""

from __future__ import annotations

import pytest

from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import workspaces
from galaxyco_ui.services.validation import clean_name, lookup_id, name_key, normalize_email, search_text


@pytest.mark.parametrize("name", ["Acme\x00", "Acme\ud800", "Acme\u202e", "Ac\x07me"])
def test_a_workspace_name_with_unstorable_or_hiding_characters_is_refused_before_the_database(team, name):
    # The NUL reached PostgreSQL (a DataError crash) through clean_name before.
    with pytest.raises(ValidationError) as caught:
        workspaces.rename_workspace(ctx=team.owner, name=name)
    assert caught.value.field_errors["name"]


@pytest.mark.parametrize("value", [None, 5, ["a"], {"a": 1}])
def test_a_name_or_email_that_is_not_text_is_a_field_error_not_a_crash(value):
    with pytest.raises(ValidationError):
        clean_name(value, field="name", label="Name", max_length=80)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        normalize_email(value)  # type: ignore[arg-type]


def test_a_name_keeps_one_line_and_its_key_ignores_case_spacing_and_unicode_form():
    assert clean_name("  Acme \n\t Labs ", field="name", label="Name", max_length=80) == "Acme Labs"
    assert name_key("Straße  ﬁle") == name_key("STRASSE FILE") == name_key("strasse file")
    assert name_key("A\u0308rger") == name_key("ärger")


def test_ids_that_could_never_be_stored_are_not_looked_up():
    assert lookup_id("0f" * 16) == "0f" * 16
    assert [lookup_id(v) for v in ("a\x00", "a\ud800", "é", "", "a" * 65, 5, None)] == [None] * 7


def test_a_search_text_drops_what_cannot_be_stored_and_never_fails():
    assert search_text(" leave\x00 policy\ud800 ", max_chars=100) == "leave policy"
    assert search_text(["x"], max_chars=100) == ""
    assert search_text("a " * 100, max_chars=10) == "a a a a a"
