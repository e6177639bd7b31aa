"""Input helpers shared by services: turning pydantic errors into field messages."""

from __future__ import annotations

from typing import TypeVar

import pydantic
from email_validator import EmailNotValidError, validate_email

from galaxyco_ui.errors import ValidationError

M = TypeVar("M", bound=pydantic.BaseModel)


def parse(model: type[M], data: dict[str, object]) -> M:
    """Validate ``data`` into ``model`` or raise ``ValidationError`` with per-field messages."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "form"
            errors.setdefault(field, _message(err, _bounds(model, field)))
        raise ValidationError(errors) from None


def _bounds(model: type[pydantic.BaseModel], field: str) -> dict[str, object]:
    """A field's numeric limits (``ge``/``gt``/``le``/``lt``) as declared on the model.

    Pydantic's error context names only the limit that was crossed; the message
    states the whole range.
    """
    info = model.model_fields.get(field)
    return {
        name: getattr(item, name)
        for item in (info.metadata if info else ())
        for name in ("ge", "gt", "le", "lt")
        if hasattr(item, name)
    }


def _message(err: dict, bounds: dict[str, object] | None = None) -> str:  # type: ignore[type-arg]
    kind, ctx = err["type"], {**(err.get("ctx") or {}), **(bounds or {})}
    if kind == "string_too_short":
        return (
            "This field is required."
            if ctx.get("min_length") == 1
            else f"Use at least {ctx['min_length']} characters."
        )
    if kind == "string_too_long":
        return f"Use at most {ctx['max_length']} characters."
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = ctx.get("ge", ctx.get("gt")), ctx.get("le", ctx.get("lt"))
        return (
            f"Enter a number between {low} and {high}."
            if low is not None and high is not None
            else err["msg"]
        )
    if kind in ("int_parsing", "float_parsing", "int_from_float"):
        return "Enter a number."
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return str(err["msg"])


def normalize_email(email: str, *, field: str = "email") -> str:
    """Lower-cased, syntax-checked address; raises ``ValidationError`` on ``field``."""
    email = (email or "").strip()
    if not email:
        raise ValidationError({field: "Enter an email address."})
    if len(email) > 320:
        raise ValidationError({field: "That email address is too long."})
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError({field: "Enter a valid email address, like name@example.com."}) from None


def clean_name(value: str, *, field: str, label: str, max_length: int) -> str:
    value = " ".join((value or "").split())
    if not value:
        raise ValidationError({field: f"{label} is required."})
    if len(value) > max_length:
        raise ValidationError({field: f"{label} must be at most {max_length} characters."})
    return value
