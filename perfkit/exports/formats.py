"""The one format table every export path follows.

The Python writers (``writers/``) and the PostgreSQL ``COPY`` path
(``copy.py``) produce the same bytes for the same data by following this
table. Values are what ``values_list()`` returns; a column's *kind* comes
from its field (a foreign key takes the kind of the field it points to).

=========================  ==========================================  ==========================
value (field)              CSV cell                                    JSON Lines value
=========================  ==========================================  ==========================
NULL / ``None``            empty, unquoted field                       ``null``
text, empty string         ``""`` (quoted, so NULL and "" differ)      ``""``
text                       as is; a ``'`` prefix when it starts with   string, as is
                           tab or CR, or its first non-whitespace
                           character is ``=`` ``+`` ``-`` ``@``
boolean                    ``true`` / ``false``                        ``true`` / ``false``
integer                    decimal digits, ``-`` for negatives         number
decimal                    at the field's ``decimal_places``           string, as in CSV
                           (``1.5`` -> ``1.50``), never an exponent
float                      shortest round-trip digits, PostgreSQL's    number; non-finite values
                           float8 layout (below)                       as strings, as in CSV
aware datetime             UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``        string, as in CSV
                           (always six fraction digits)
naive datetime             ``YYYY-MM-DDTHH:MM:SS.ffffff`` (no ``Z``:   string, as in CSV
                           ``USE_TZ = False``, local time)
date                       ``YYYY-MM-DD``                              string, as in CSV
time                       ``HH:MM:SS.ffffff``                         string, as in CSV
UUID                       lowercase, hyphenated                       string, as in CSV
JSON field                 compact JSON text (``{"a":1}``),            the JSON value itself
                           not neutralized
anything else              ``str(value)`` (bytes as hex), neutralized  string, as in CSV
=========================  ==========================================  ==========================

Floats follow PostgreSQL's own ``float8`` output (``extra_float_digits > 0``,
the default since PostgreSQL 12), so COPY can cast them to text: the shortest
digits that round-trip (as Python's ``repr``), in fixed notation when the
decimal exponent is in [-4, 15) and ``d.ddde±XX`` otherwise; no trailing
``.0`` (``1`` not ``1.0``, ``1e+15`` not ``1000000000000000.0``);
``Infinity``, ``-Infinity``, ``NaN``; ``-0`` for negative zero.

"Whitespace" is ``FORMULA_WHITESPACE``, what Python's ``str.isspace()``
accepts: space, tab, CR, LF, the other ASCII and Unicode spaces and
separators, NEL and the no-break space (U+00A0), so `` =1+1``, a newline
then ``@cmd`` and a no-break space then ``-1`` are neutralized too (OWASP's
CSV injection guidance); a zero-width space is not whitespace and is left
alone.

Formula neutralization applies to text cells only (the label row included):
numbers are never touched, a negative number is not a formula. JSON text is
left alone too: it starts with ``{``, ``[``, ``"``, a letter or a number, and
the only trigger it can start with is a number's minus sign. JSON Lines is
not a spreadsheet format and is never neutralized; XLSX writes text as string
cells (``writers/xlsx.py``).

CSV quoting (``writers/csv.py``) is PostgreSQL's: a field is quoted when it
contains ``,`` ``"`` CR or LF, or is the empty string (and, in a one-column
file, when it is ``\\.``); quotes are doubled; rows end with ``\\n``; UTF-8, no BOM.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import math
import uuid
from collections.abc import Callable
from typing import Any

from django.db.models import Field

from perfkit.exports.columns import Column

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# What a spreadsheet may skip before reading a formula: every character
# Python's str.isspace() accepts (ASCII whitespace, the \x1c-\x1f separators,
# NEL, no-break and the other Unicode spaces). Spelled out, not computed, so
# copy.py hands PostgreSQL exactly this set; a test checks it against isspace().
FORMULA_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


class Kind(enum.Enum):
    """How a column's values are formatted."""

    TEXT = "text"
    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"
    TIME = "time"
    UUID = "uuid"
    JSON = "json"
    OTHER = "other"


_KINDS = {
    "CharField": Kind.TEXT,
    "TextField": Kind.TEXT,
    "SlugField": Kind.TEXT,
    "EmailField": Kind.TEXT,
    "URLField": Kind.TEXT,
    "FileField": Kind.TEXT,
    "FilePathField": Kind.TEXT,
    "AutoField": Kind.INTEGER,
    "BigAutoField": Kind.INTEGER,
    "SmallAutoField": Kind.INTEGER,
    "IntegerField": Kind.INTEGER,
    "BigIntegerField": Kind.INTEGER,
    "SmallIntegerField": Kind.INTEGER,
    "PositiveIntegerField": Kind.INTEGER,
    "PositiveBigIntegerField": Kind.INTEGER,
    "PositiveSmallIntegerField": Kind.INTEGER,
    "FloatField": Kind.FLOAT,
    "DecimalField": Kind.DECIMAL,
    "BooleanField": Kind.BOOLEAN,
    "DateTimeField": Kind.DATETIME,
    "DateField": Kind.DATE,
    "TimeField": Kind.TIME,
    "UUIDField": Kind.UUID,
    "JSONField": Kind.JSON,
}

Formatter = Callable[[Any], str | None]


def value_field(field: Field[Any, Any]) -> Field[Any, Any]:
    """The field whose type the values have: a foreign key's target field."""
    while field.is_relation and getattr(field, "target_field", None) is not None:
        field = field.target_field  # type: ignore[attr-defined]
    return field


def kind_of(column: Column) -> Kind:
    """The format-table row a column follows."""
    return _KINDS.get(value_field(column.field).get_internal_type(), Kind.OTHER)


def decimal_places(column: Column) -> int:
    """The scale a decimal column is written at."""
    places = getattr(value_field(column.field), "decimal_places", None)
    return int(places or 0)


_SIGNS = ("=", "+", "-", "@")


def looks_like_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (OWASP's CSV injection rule).

    A tab or CR first, or ``=`` ``+`` ``-`` ``@`` as the first character after
    any leading whitespace (``FORMULA_WHITESPACE``: spaces, newlines, no-break
    spaces): spreadsheets skip some of it, and cells are often trimmed.
    """
    return text.startswith(FORMULA_TRIGGERS) or text.lstrip(FORMULA_WHITESPACE).startswith(_SIGNS)


def neutralize(text: str) -> str:
    """Prefix text a spreadsheet would run as a formula with ``'``."""
    if looks_like_formula(text):
        return "'" + text
    return text


def format_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return neutralize(bytes(value).hex())
    return neutralize(value if isinstance(value, str) else str(value))


def format_bool(value: bool) -> str:
    return "true" if value else "false"


def format_int(value: int) -> str:
    return str(int(value))


# Wide enough for any DecimalField (PostgreSQL caps declared precision at 1000).
_DECIMALS = decimal.Context(prec=2100, rounding=decimal.ROUND_HALF_UP)


def format_decimal(value: decimal.Decimal, places: int) -> str:
    """``value`` at ``places`` digits after the point, no exponent."""
    return _decimal_formatter(places)(value)


def _decimal_formatter(places: int) -> Callable[[decimal.Decimal], str]:
    quantum = decimal.Decimal(1).scaleb(-places)

    def format_value(value: decimal.Decimal) -> str:
        if not value.is_finite():
            return "NaN" if value.is_nan() else ("-Infinity" if value < 0 else "Infinity")
        try:
            quantized = value.quantize(quantum, context=_DECIMALS)
        except decimal.InvalidOperation:
            wide = decimal.Context(prec=value.adjusted() + places + 2)
            quantized = value.quantize(quantum, context=wide, rounding=decimal.ROUND_HALF_UP)
        if not quantized and quantized.is_signed():
            quantized = abs(quantized)  # PostgreSQL has no negative zero numeric
        return f"{quantized:f}"

    return format_value


def format_float(value: float) -> str:
    """Shortest round-trip digits in PostgreSQL's float8 text layout."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    if 1e-4 <= abs(value) < 1e15:
        # Both use fixed notation here, and repr's digits are PostgreSQL's.
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    digits, exponent = _shortest(abs(value))
    point = exponent + len(digits) - 1  # decimal exponent of the first digit
    if -4 <= point < 15:
        if exponent >= 0:
            text = digits + "0" * exponent
        elif point >= 0:
            text = f"{digits[: point + 1]}.{digits[point + 1 :]}"
        else:
            text = "0." + "0" * (-point - 1) + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mantissa}e{'-' if point < 0 else '+'}{abs(point):02d}"
    return "-" + text if value < 0 else text


_EXACT = decimal.Context(prec=1200)  # any double's exact decimal value fits


def _shortest(value: float) -> tuple[str, int]:
    """Digits (no trailing zeros) and exponent of PostgreSQL's output for ``value > 0``.

    Python's ``repr`` and PostgreSQL's Ryu both give the shortest digits
    that round-trip, closest to the exact value, but Ryu (built without
    STRICTLY_SHORTEST) never picks a number lying exactly halfway to a
    neighbouring double, which ``repr`` may. That can only happen at or
    above 2**53 (below it every such number has more than 17 digits); there,
    take the shortest number strictly inside the rounding interval.
    """
    candidate = decimal.Decimal(repr(value))
    if value >= 2.0**53:
        exact = decimal.Decimal(value)
        low = _EXACT.subtract(exact, decimal.Decimal(value - math.nextafter(value, 0)) / 2)
        high = _EXACT.add(exact, decimal.Decimal(math.ulp(value)) / 2)
        if candidate in (low, high):
            candidate = _strictly_inside(value, exact, low, high, len(candidate.as_tuple().digits))
    _, digit_tuple, exponent = candidate.normalize(_EXACT).as_tuple()
    assert isinstance(exponent, int)
    return "".join(map(str, digit_tuple)), exponent


def _strictly_inside(
    value: float, exact: decimal.Decimal, low: decimal.Decimal, high: decimal.Decimal, length: int
) -> decimal.Decimal:
    for places in range(length, 17):
        rounded = decimal.Decimal(f"{value:.{places}e}")
        step = decimal.Decimal(1).scaleb(rounded.adjusted() - places)
        inside = [
            number for number in (rounded, rounded - step, rounded + step) if low < number < high
        ]
        if inside:
            return min(inside, key=lambda number: abs(number - exact))
    return exact  # unreachable: 17 significant digits always fall inside


def format_datetime(value: datetime.datetime) -> str:
    """Aware: UTC with ``Z``; naive: as is, without ``Z``. Always microseconds."""
    if value.tzinfo is None:
        return value.isoformat(timespec="microseconds")
    if value.tzinfo is not datetime.UTC:
        value = value.astimezone(datetime.UTC)
    # In UTC the offset suffix is always "+00:00".
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def format_date(value: datetime.date) -> str:
    return value.isoformat()


def format_time(value: datetime.time) -> str:
    return value.isoformat(timespec="microseconds")


def format_uuid(value: uuid.UUID | str) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def format_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _nullable(format_value: Callable[[Any], str]) -> Formatter:
    def format_cell(value: Any) -> str | None:
        return None if value is None else format_value(value)

    return format_cell


def _as_is(value: str) -> str:
    return value


def text_formatter(column: Column) -> Callable[[Any], str]:
    """Format a non-NULL value of ``column`` as its CSV cell text."""
    if column.formatted:
        return _as_is  # the database wrote the text (perfkit.exports.sqlcells)
    kind = kind_of(column)
    if kind is Kind.DECIMAL:
        return _decimal_formatter(decimal_places(column))
    return _TEXT_FORMATTERS[kind]


_TEXT_FORMATTERS: dict[Kind, Callable[[Any], str]] = {
    Kind.TEXT: format_text,
    Kind.OTHER: format_text,
    Kind.INTEGER: format_int,
    Kind.FLOAT: format_float,
    Kind.BOOLEAN: format_bool,
    Kind.DATETIME: format_datetime,
    Kind.DATE: format_date,
    Kind.TIME: format_time,
    Kind.UUID: format_uuid,
    Kind.JSON: format_json,
}


def csv_formatter(column: Column) -> Formatter:
    """A function from a value of ``column`` to its CSV cell (``None`` is NULL)."""
    return _nullable(text_formatter(column))


def csv_cell(value: Any, column: Column) -> str | None:
    """The CSV cell text of one value, before quoting; ``None`` means NULL."""
    return csv_formatter(column)(value)
