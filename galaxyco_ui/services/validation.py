"""Input helpers shared by services: turning pydantic errors into field messages, and the
rules every piece of text obeys before it reaches the database.

Text rules (every service input is hostile; these keep bad input a clear field error):

- No text may hold a NUL character or an unpaired surrogate: PostgreSQL text columns refuse
  NUL and neither database can encode a lone surrogate as UTF-8, so either would otherwise
  surface as a crash (or, on SQLite, be stored and break the PostgreSQL install). ``parse``
  checks every string a model receives; ``check_text`` does it for loose arguments.
- A one-line label (an agent's, a collection's, a person's or a workspace's name) has its
  whitespace runs collapsed to single spaces and may not contain control characters or
  the bidirectional embedding/override/isolate controls, which make a name display as
  something else (U+202E turns "gpj.exe" into "exe.jpg").
- Two labels are the same name when their ``name_key`` is equal: NFKC-normalised and
  case-folded, so "Ärger" and "äRGER" (or "ﬁle" and "FILE") collide on every database,
  not only where the database's ``lower()`` understands non-ASCII letters.
- An id argument that could never be a stored id (not a string, too long, or unstorable
  text) is "not found" without asking the database (``lookup_id``).
"""

from __future__ import annotations

import unicodedata
from typing import TypeVar

import pydantic
from email_validator import EmailNotValidError, validate_email
from pydantic_core import ErrorDetails

from galaxyco_ui.errors import ValidationError

# The id and search-text rules live below the services (the knowledge search core uses
# them too); services import them from here.
from galaxyco_ui.infra.text import lookup_id as lookup_id
from galaxyco_ui.infra.text import search_text as search_text

M = TypeVar("M", bound=pydantic.BaseModel)


NUL_MESSAGE = "Remove the NUL character from this text: it cannot be saved."
SURROGATE_MESSAGE = "This text holds an invalid character (an unpaired surrogate): remove it."
CONTROL_MESSAGE = "Remove the control characters from this name."
BIDI_MESSAGE = "Remove the text-direction control characters from this name."
# Embeddings, overrides and isolates: they reorder how the rest of a label displays.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def parse(model: type[M], data: dict[str, object]) -> M:
    """Validate ``data`` into ``model`` or raise ``ValidationError`` with per-field messages.

    Every string given for one of the model's fields (nested in lists and dicts too) must
    pass ``text_problem`` first; unknown keys are ignored, as pydantic ignores them.
    """
    errors: dict[str, str] = {}
    if isinstance(data, dict):
        for field, value in data.items():
            if field in model.model_fields and (problem := text_problem(value)):
                errors[str(field)] = problem
    try:
        values = model.model_validate(data)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "form"
            errors.setdefault(field, _message(err, _bounds(model, field)))
        raise ValidationError(errors) from None
    if errors:
        raise ValidationError(errors)
    return values


def text_problem(value: object) -> str | None:
    """Why ``value`` (or a string nested in it) cannot be stored as text, else None."""
    if isinstance(value, str):
        if "\x00" in value:
            return NUL_MESSAGE
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_MESSAGE
        return None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            if problem := text_problem(item):
                return problem
    return None


def check_text(value: object, *, field: str) -> str:
    """``value`` if it is storable text; ``ValidationError`` on ``field`` otherwise.

    ``None`` reads as "" (a blank form field); any other non-string is refused.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({field: "Enter text."})
    if problem := text_problem(value):
        raise ValidationError({field: problem})
    return value


def one_line(value: str) -> str:
    """A label on one line: whitespace runs collapsed, ends trimmed.

    Raises:
        ValueError: the label holds control or text-direction characters, or cannot be stored.
    """
    if problem := text_problem(value):
        raise ValueError(problem)
    value = " ".join(value.split())
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError(CONTROL_MESSAGE)
    if not _BIDI_CONTROLS.isdisjoint(value):
        raise ValueError(BIDI_MESSAGE)
    return value


def name_key(name: str) -> str:
    """What makes two labels the same name: NFKC-normalised, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


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


def _message(err: ErrorDetails, bounds: dict[str, object] | None = None) -> str:
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
    email = check_text(email, field=field).strip()
    if not email:
        raise ValidationError({field: "Enter an email address."})
    if len(email) > 320:
        raise ValidationError({field: "That email address is too long."})
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError({field: "Enter a valid email address, like name@example.com."}) from None


def clean_name(value: str, *, field: str, label: str, max_length: int) -> str:
    """A required one-line name (``one_line``), or ``ValidationError`` on ``field``."""
    try:
        value = one_line(check_text(value, field=field))
    except ValueError as error:
        raise ValidationError({field: str(error)}) from None
    if not value:
        raise ValidationError({field: f"{label} is required."})
    if len(value) > max_length:
        raise ValidationError({field: f"{label} must be at most {max_length} characters."})
    return value
