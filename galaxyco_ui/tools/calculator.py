"""Safe arithmetic on an expression string, without ``eval``.

The expression is parsed with ``ast`` and only these nodes are evaluated: number
literals, ``+ - * / // % **``, unary ``+``/``-``, parentheses, the constants ``pi`` and
``e`` and the functions in ``_FUNCTIONS``. Anything else (names, attributes, subscripts,
keyword arguments, strings, comparisons) is refused with a message for the model.

Numbers stay exact where they can: integers are Python ints (``2**100`` is exact, and
``10/4`` is ``5/2`` evaluated as the decimal 2.5), decimal literals are ``Decimal`` (so
``0.1 + 0.2`` is ``0.3``), and only trigonometry falls back to binary floats. Results
are bounded (``MAX_DIGITS`` digits) and checked *before* a power is computed, so
``9**9**9`` is refused at once instead of exhausting memory.
"""

from __future__ import annotations

import ast
import decimal
import math
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from galaxyco_ui.tools.base import Tool, ToolContext, ToolError, ToolResult
from galaxyco_ui.tools.catalog import tool_info

MAX_EXPRESSION_CHARS = 500
MAX_DIGITS = 1000  # largest result magnitude: 10**1000
_PRECISION = 50  # working digits; results are shown to _SHOWN_DIGITS so sqrt(2)**2 shows 2
_SHOWN_DIGITS = 28

Number = int | Decimal | float

_CONTEXT = decimal.Context(
    prec=_PRECISION,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=MAX_DIGITS,
    Emin=-MAX_DIGITS,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

_DISPLAY = decimal.Context(prec=_SHOWN_DIGITS, Emax=MAX_DIGITS + 1, Emin=-MAX_DIGITS - _PRECISION)

_CONSTANTS: dict[str, Decimal] = {
    "pi": Decimal("3.14159265358979323846264338327950288419716939937510"),
    "e": Decimal("2.71828182845904523536028747135266249775724709369995"),
}


def _too_large() -> ToolError:
    return ToolError(f"Result too large (the limit is about 10**{MAX_DIGITS})")


def _check(value: Number) -> Number:
    """Refuse results outside the magnitude limit, infinities and NaN."""
    if isinstance(value, int):
        # bit_length is cheap; 3.33 bits per decimal digit.
        if value.bit_length() > MAX_DIGITS * 3.33:
            raise _too_large()
    elif isinstance(value, float):
        if math.isnan(value):
            raise ToolError("The result is not a number")
        if math.isinf(value) or abs(value) >= 10.0**300:
            raise _too_large()
    elif value.is_nan() or value.is_infinite() or (value and value.adjusted() > MAX_DIGITS):
        raise _too_large()
    return value


def _unify(a: Number, b: Number) -> tuple[Number, Number]:
    """Bring two operands to a common type: float wins, then Decimal, else int."""
    if isinstance(a, float) or isinstance(b, float):
        return float(a), float(b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return _CONTEXT.create_decimal(a), _CONTEXT.create_decimal(b)
    return a, b


def _log10_abs(value: Number) -> float:
    if isinstance(value, Decimal):
        return float(abs(value).log10(_CONTEXT))
    return math.log10(abs(value))


def _divide(a: Number, b: Number) -> Number:
    a, b = _unify(a, b)
    if not b:
        raise ToolError("Division by zero")
    if isinstance(a, int) and isinstance(b, int):
        quotient, remainder = divmod(a, b)
        return quotient if remainder == 0 else Decimal(a) / Decimal(b)
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a / b
    return float(a) / float(b)  # _unify left two floats


def _floor_divmod(a: Number, b: Number) -> tuple[Number, Number]:
    """Python's floor semantics for every type (Decimal's own ``%`` truncates toward 0)."""
    a, b = _unify(a, b)
    if not b:
        raise ToolError("Division by zero")
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        quotient = (a / b).to_integral_value(rounding=decimal.ROUND_FLOOR)
        return quotient, a - b * quotient
    if isinstance(a, int) and isinstance(b, int):
        return divmod(a, b)
    return divmod(float(a), float(b))  # _unify left two floats


def _power(base: Number, exponent: Number) -> Number:
    base, exponent = _unify(base, exponent)
    if base and abs(base) != 1 and exponent:
        # Estimate the result's size before computing it: |base**exp| = 10**(exp*log10|base|).
        magnitude = float(exponent) * _log10_abs(base)
        if magnitude > MAX_DIGITS:
            raise _too_large()
    if not base and exponent < 0:
        raise ToolError("Division by zero")
    if isinstance(base, int) and isinstance(exponent, int):
        if exponent < 0:
            return Decimal(1) / Decimal(base) ** -exponent
        if abs(base) == 1:
            return base ** (exponent % 2)
        return base**exponent
    if base < 0 and not float(exponent).is_integer():
        raise ToolError("A negative number cannot be raised to a fractional power")
    if isinstance(base, Decimal) and isinstance(exponent, Decimal):
        return base**exponent
    return float(base) ** float(exponent)  # _unify left two floats


def _arithmetic(operation: Callable[[Any, Any], Number]) -> Callable[[Number, Number], Number]:
    return lambda a, b: operation(*_unify(a, b))


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: _arithmetic(operator.add),
    ast.Sub: _arithmetic(operator.sub),
    ast.Mult: _arithmetic(operator.mul),
    ast.Div: _divide,
    ast.FloorDiv: lambda a, b: _floor_divmod(a, b)[0],
    ast.Mod: lambda a, b: _floor_divmod(a, b)[1],
    ast.Pow: _power,
}


def _to_decimal(value: Number) -> Decimal:
    return _CONTEXT.create_decimal(repr(value) if isinstance(value, float) else value)


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise ToolError("sqrt of a negative number is not a real number")
    if isinstance(x, int):
        root = math.isqrt(x)
        if root * root == x:
            return root
    if isinstance(x, float):
        return math.sqrt(x)
    return _to_decimal(x).sqrt(_CONTEXT)


def _log(x: Number, base: Number | None = None) -> Number:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise ToolError("log is only defined for positive numbers (and a positive base other than 1)")
    if isinstance(x, float) or isinstance(base, float):
        return math.log(x) if base is None else math.log(x, base)
    value = _to_decimal(x).ln(_CONTEXT)
    return value if base is None else value / _to_decimal(base).ln(_CONTEXT)


def _log10(x: Number) -> Number:
    if x <= 0:
        raise ToolError("log10 is only defined for positive numbers")
    if isinstance(x, float):
        return math.log10(x)
    return _to_decimal(x).log10(_CONTEXT)


def _exp(x: Number) -> Number:
    if x > MAX_DIGITS * 2.30:  # e**2303 ~ 10**1000
        raise _too_large()
    return math.exp(x) if isinstance(x, float) else _to_decimal(x).exp(_CONTEXT)


def _round(x: Number, digits: Number = 0) -> Number:
    if not isinstance(digits, int) or abs(digits) > MAX_DIGITS:
        raise ToolError("round(x, digits) needs a whole number of digits")
    # Half away from zero, as people round (Python's round() rounds half to even).
    rounded = _to_decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=decimal.ROUND_HALF_UP)
    return int(rounded) if digits <= 0 else rounded


def _trig(function: Callable[[float], float]) -> Callable[[Number], Number]:
    return lambda x: function(float(x))


# name -> (function, minimum arguments, maximum arguments or None for any number)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int | None]] = {
    "sqrt": (_sqrt, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (min, 1, None),
    "max": (max, 1, None),
    "log": (_log, 1, 2),
    "log10": (_log10, 1, 1),
    "exp": (_exp, 1, 1),
    "sin": (_trig(math.sin), 1, 1),
    "cos": (_trig(math.cos), 1, 1),
    "tan": (_trig(math.tan), 1, 1),
}


def _literal(node: ast.Constant, source: str) -> Number:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"Only numbers are allowed, not {type(value).__name__} literals")
    if isinstance(value, int):
        return value
    # Re-read the literal's own digits so 0.1 is exactly one tenth, not the float nearest it.
    text = ast.get_source_segment(source, node) or repr(value)
    return _CONTEXT.create_decimal(text)


def _call(node: ast.Call, source: str) -> Number:
    if not isinstance(node.func, ast.Name):
        raise ToolError("Only the listed functions can be called (e.g. sqrt(2)); methods are not allowed")
    name = node.func.id
    if name not in _FUNCTIONS:
        raise ToolError(f"Unknown function {name!r}. Available: {', '.join(_FUNCTIONS)}")
    if node.keywords:
        raise ToolError(f"{name}() takes positional arguments only")
    function, least, most = _FUNCTIONS[name]
    count = len(node.args)
    if count < least or (most is not None and count > most):
        wanted = str(least) if least == most else f"{least} to {most}" if most else f"at least {least}"
        raise ToolError(f"{name}() takes {wanted} argument(s), got {count}")
    args = [_evaluate(arg, source) for arg in node.args]
    return function(*args)


def _evaluate(node: ast.AST, source: str) -> Number:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, source)
    if isinstance(node, ast.Constant):
        return _literal(node, source)
    if isinstance(node, ast.BinOp):
        operation = _BINARY.get(type(node.op))
        if operation is None:
            hint = " (use ** for powers)" if isinstance(node.op, ast.BitXor) else ""
            raise ToolError(f"Operator {type(node.op).__name__} is not allowed{hint}")
        left = _evaluate(node.left, source)
        right = _evaluate(node.right, source)
        return _check(operation(left, right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        operand = _evaluate(node.operand, source)
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ToolError(f"Unknown name {node.id!r}. Only the constants pi and e and numbers are allowed")
    if isinstance(node, ast.Call):
        return _check(_call(node, source))
    if isinstance(node, ast.Attribute):
        raise ToolError("Attribute access is not allowed")
    raise ToolError(f"{type(node).__name__} is not allowed in an arithmetic expression")


def format_number(value: Number) -> str:
    """Render a result: integers exactly, decimals without trailing zeros or exponent
    noise, floats by their shortest round-tripping form."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    value = value.normalize(_DISPLAY)
    if value == 0:
        return "0"
    if -30 <= value.adjusted() < _SHOWN_DIGITS:
        return format(value, "f")
    return format(value, "E").replace("E", "e")


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression safely.

    Raises:
        ToolError: the expression is too long, not valid syntax, uses anything outside
            the allowed arithmetic, divides by zero or exceeds the magnitude limit.
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(
            f"Expression too long ({len(expression)} characters; the limit is {MAX_EXPRESSION_CHARS})"
        )
    source = expression.strip()
    if not source:
        raise ToolError("The expression is empty")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ToolError(f"Invalid expression: {expression!r} is not valid arithmetic syntax") from None
    try:
        with decimal.localcontext(_CONTEXT):
            return _check(_evaluate(tree, source))
    except ZeroDivisionError:
        raise ToolError("Division by zero") from None
    except decimal.DivisionByZero:
        raise ToolError("Division by zero") from None
    except (OverflowError, decimal.Overflow):
        raise _too_large() from None
    except (decimal.InvalidOperation, ValueError):
        raise ToolError("Invalid operation (the result is not a real number)") from None
    except RecursionError:
        raise ToolError("The expression is nested too deeply") from None


class CalculatorTool(Tool):
    """Exact arithmetic for the model (see the module docstring for what is allowed)."""

    name = tool_info("calculator").name
    description = (
        f"{tool_info('calculator').description} Evaluates one arithmetic expression and returns the "
        "result. Supports + - * / // % ** and parentheses, decimal numbers (exact: 0.1+0.2 = 0.3), "
        "the constants pi and e, and the functions sqrt, abs, round(x, digits), min, max, "
        "log(x[, base]), log10, exp, sin, cos, tan (radians). Use ** for powers, not ^."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": "The arithmetic expression, e.g. '(1200 * 0.15) / 12' or 'sqrt(2) ** 2'.",
                "maxLength": MAX_EXPRESSION_CHARS,
            }
        },
        "required": ["expression"],
        "additionalProperties": False,
    }
    timeout_seconds = 5.0
    max_result_chars = 2_000

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Evaluate ``arguments["expression"]``; the content is the result as text."""
        expression: str = arguments["expression"]
        result = format_number(evaluate(expression))
        return ToolResult(content=result, data={"expression": expression, "result": result})
