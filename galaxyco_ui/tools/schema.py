"""A small JSON Schema validator for the subset tool parameters use.

Supported keywords: ``type`` (a name or a list of names), ``properties``, ``required``,
``additionalProperties`` (a boolean or a schema), ``maxProperties``, ``enum``,
``minLength``, ``maxLength``, ``minimum``, ``maximum``, ``items`` and ``maxItems``.
Other keywords (``description``, ``default``, ...) are ignored. ``jsonschema`` is not a
dependency of the project and this subset is all the tools need; a tool that needs more
should extend this module and its tests.
"""

from __future__ import annotations

from typing import Any

_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _matches_type(value: Any, type_name: str) -> bool:
    if type_name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if type_name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "array":
        return isinstance(value, list | tuple)
    if type_name == "object":
        return isinstance(value, dict)
    if type_name == "null":
        return value is None
    raise ValueError(f"unsupported schema type {type_name!r}")


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _where(path: str) -> str:
    return path or "arguments"


def _validate(value: Any, schema: dict[str, Any], path: str, errors: list[str]) -> None:
    expected = schema.get("type")
    if expected is not None:
        names = [expected] if isinstance(expected, str) else list(expected)
        if not any(_matches_type(value, name) for name in names):
            errors.append(f"{_where(path)}: expected {' or '.join(names)}, got {_type_name(value)}")
            return

    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        errors.append(f"{_where(path)}: must be one of {allowed}")

    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{_where(path)}: longer than {schema['maxLength']} characters")
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{_where(path)}: shorter than {schema['minLength']} characters")

    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{_where(path)}: must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{_where(path)}: must be at most {schema['maximum']}")

    if isinstance(value, list | tuple):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{_where(path)}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                _validate(item, schema["items"], f"{path}[{index}]", errors)

    if isinstance(value, dict):
        _validate_object(value, schema, path, errors)


def _validate_object(value: dict[str, Any], schema: dict[str, Any], path: str, errors: list[str]) -> None:
    prefix = f"{path}." if path else ""
    for key in schema.get("required", ()):
        if key not in value:
            errors.append(f"{prefix}{key}: is required")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(f"{_where(path)}: more than {schema['maxProperties']} properties")
    properties: dict[str, Any] = schema.get("properties", {})
    additional = schema.get("additionalProperties", True)
    for key, item in value.items():
        if not isinstance(key, str):
            errors.append(f"{_where(path)}: property names must be strings")
        elif key in properties:
            _validate(item, properties[key], f"{prefix}{key}", errors)
        elif additional is False:
            known = ", ".join(properties) or "none"
            errors.append(f"{prefix}{key}: unknown argument (expected: {known})")
        elif isinstance(additional, dict):
            _validate(item, additional, f"{prefix}{key}", errors)


def validate(value: Any, schema: dict[str, Any]) -> list[str]:
    """Check ``value`` against ``schema``.

    Args:
        value: the decoded JSON value (a tool's arguments).
        schema: a JSON Schema using only the supported keywords.

    Returns:
        One message per problem, each naming the offending path
        (``"url: is required"``); an empty list when the value is valid.

    Raises:
        ValueError: the schema uses an unsupported ``type`` name (a bug in the tool).
    """
    errors: list[str] = []
    _validate(value, schema, "", errors)
    return errors
