"""The ``clickhouse`` sink, the classify step: pure, the store's answers → Outcome.

The wire format and the answers are described in ``logship.sinks.clickhouse``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from logship.ship.outcome import CLICKHOUSE_TRANSIENT_CODES, DELIVERED, Outcome, RetryReason, rejected, retry
from logship.sinks._http import body_excerpt, classify_answer, header

# Codes from ClickHouse's ErrorCodes.cpp.
DATA_CODES = frozenset({
    6,    # CANNOT_PARSE_TEXT
    26,   # CANNOT_PARSE_QUOTED_STRING
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED (18.16 answers 500)
    32,   # ATTEMPT_TO_READ_AFTER_EOF
    38,   # CANNOT_PARSE_DATE
    41,   # CANNOT_PARSE_DATETIME
    53,   # TYPE_MISMATCH
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    72,   # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    131,  # TOO_LARGE_STRING_SIZE (a FixedString column; 18.16 answers 500)
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    407,  # DECIMAL_OVERFLOW
})
AUTH_CODES = frozenset({
    192,  # UNKNOWN_USER
    193,  # WRONG_PASSWORD
    194,  # REQUIRED_PASSWORD
    195,  # IP_ADDRESS_NOT_ALLOWED
    497,  # ACCESS_DENIED
    516,  # AUTHENTICATION_FAILED
})
TABLE_CODES = frozenset({60, 81})  # UNKNOWN_TABLE, UNKNOWN_DATABASE
CONFIG_CODES = frozenset({
    16,   # NO_SUCH_COLUMN_IN_TABLE
    62,   # SYNTAX_ERROR
    115,  # UNKNOWN_SETTING
    164,  # READONLY
})
# The codes retried with reason ``code_<n>`` (their names: logship.ship.outcome, where the labels are).
TRANSIENT_CODES = frozenset(CLICKHOUSE_TRANSIENT_CODES)
_CODE = re.compile(rb"Code: (\d+)")


# --- answers ---------------------------------------------------------------------------------------


def error_code(headers: Mapping[str, str], body: bytes) -> int | None:
    """ClickHouse's exception code: ``X-ClickHouse-Exception-Code`` (modern) or ``Code: N`` in the body."""
    value = header(headers, "X-ClickHouse-Exception-Code")
    if value is not None and value.strip().isdigit():
        return int(value)
    match = _CODE.search(body[:1024])
    return int(match.group(1)) if match else None


def _said(code: int, body: bytes) -> str:
    text = body_excerpt(body)
    text = re.sub(r"^Code: \d+[.,]\s*(e\.displayText\(\) = )?", "", text)
    text = re.sub(r",? e\.what\(\) = DB::Exception$", "", text)
    return f"Code {code}: {text}"


def classify(status: int, headers: Mapping[str, str], body: bytes, retry_status: frozenset[int]) -> Outcome:
    """The Outcome of one answer of ClickHouse (rows in the module docstring)."""
    if 200 <= status < 300:
        return DELIVERED
    code = error_code(headers, body)
    if code is None:
        return classify_answer(status, headers, body, retry_status)
    said = _said(code, body)
    if code in DATA_CODES:
        return rejected(f"clickhouse {said}", split=True)
    if code in AUTH_CODES:
        return retry("auth", detail=f"credentials refused: {said}")
    if code in TABLE_CODES:
        return retry("unknown_table", detail=f"{said} (create it from configs/clickhouse/compat.sql or modern.sql, "
                                             "or set LOGSHIP_CLICKHOUSE_CREATE_TABLE=true)")
    if code in CONFIG_CODES:
        return retry("config", detail=said)
    if code in TRANSIENT_CODES:
        return retry(RetryReason.clickhouse(code), detail=said)
    if status in retry_status:
        return retry(RetryReason.http(status), detail=said)
    return rejected(f"clickhouse {said}")
