"""A user's own profile: name and password."""

import pytest

from galaxyco_ui.errors import AuthenticationError, ValidationError
from galaxyco_ui.services import accounts
from galaxyco_ui.services import profile as profile_service
from tests.factories import PASSWORD, make_user


def test_user_renames_themselves():
    user = make_user(name="Ada")
    assert profile_service.update_profile(user_id=user.id, name="  Ada   Lovelace ").name == "Ada Lovelace"
    assert profile_service.get_profile(user_id=user.id).name == "Ada Lovelace"


def test_an_empty_name_is_refused_and_the_old_one_kept():
    user = make_user(name="Ada")
    with pytest.raises(ValidationError) as exc:
        profile_service.update_profile(user_id=user.id, name="   ")
    assert exc.value.field_errors == {"name": "Name is required."}
    assert profile_service.get_profile(user_id=user.id).name == "Ada"


def test_changing_the_password_needs_the_current_one():
    user = make_user()
    with pytest.raises(ValidationError) as exc:
        profile_service.change_password(
            user_id=user.id, current_password="not it at all", new_password="a-new-long-password"
        )
    assert "current_password" in exc.value.field_errors
    assert accounts.sign_in(email=user.email, password=PASSWORD)


def test_a_weak_new_password_is_refused():
    user = make_user()
    with pytest.raises(ValidationError) as exc:
        profile_service.change_password(user_id=user.id, current_password=PASSWORD, new_password="short")
    assert exc.value.field_errors == {"new_password": "Use at least 10 characters."}


def test_after_a_change_only_the_new_password_signs_in():
    user = make_user()
    profile_service.change_password(
        user_id=user.id, current_password=PASSWORD, new_password="a-new-long-password"
    )
    assert accounts.sign_in(email=user.email, password="a-new-long-password")
    with pytest.raises(AuthenticationError):
        accounts.sign_in(email=user.email, password=PASSWORD)


def test_an_oauth_only_account_can_set_a_first_password():
    user = make_user(password=None)
    assert profile_service.get_profile(user_id=user.id).has_password is False
    profile_service.change_password(
        user_id=user.id, current_password="", new_password="a-first-long-password"
    )
    assert profile_service.get_profile(user_id=user.id).has_password is True
