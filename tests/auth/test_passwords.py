"""Password hashing (argon2id) and the password rules."""

from __future__ import annotations

import pytest

from galaxyco_ui.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    password_problem,
    verify_password,
)


def test_passwords_are_hashed_with_argon2id_and_a_random_salt():
    first, second = hash_password("s3cret-enough-pass"), hash_password("s3cret-enough-pass")
    assert first.startswith("$argon2id$")
    assert "s3cret-enough-pass" not in first
    assert first != second


def test_the_right_password_verifies():
    assert verify_password(hash_password("s3cret-enough-pass"), "s3cret-enough-pass") is True


@pytest.mark.parametrize("attempt", ["s3cret-enough-pasS", "", "s3cret-enough-pass "])
def test_a_wrong_password_does_not_verify(attempt):
    assert verify_password(hash_password("s3cret-enough-pass"), attempt) is False


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$m=8,t=1,p=1$broken"])
def test_a_missing_or_corrupt_hash_never_verifies_and_never_raises(stored):
    assert verify_password(stored, "anything at all") is False


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("a" * (MIN_PASSWORD_LENGTH - 1), f"Use at least {MIN_PASSWORD_LENGTH} characters."),
        ("x" * (MAX_PASSWORD_LENGTH + 1), f"Use at most {MAX_PASSWORD_LENGTH} characters."),
        (" " * 12, "This password is too easy to guess."),
        ("abababababab", "This password is too easy to guess."),
        ("correct horse battery staple", None),
        ("a1b2c3d4e5", None),
    ],
)
def test_password_problem_explains_what_is_wrong(password, problem):
    assert password_problem(password) == problem
