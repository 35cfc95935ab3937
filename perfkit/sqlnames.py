"""Table names in SQL: which tables a statement writes, which a query reads.

Every statement passing through a connection is asked :func:`written_tables`,
so a lone read is answered from its first word (``SELECT``, ``SET``,
``BEGIN``, ``PRAGMA``, ``EXPLAIN`` without ``ANALYZE``...) and every answer is
cached per SQL string (up to 4096, then the cache starts over). Anything else
is tokenized: comments are dropped, string literals (``'...'`` with ``''``,
``E'...'``, ``$tag$...$tag$``) become one opaque token, so keywords and names
inside them never count, and the string is split at ``;``, every statement
counting.

Rules:

- Names come out in one canonical form (:func:`canonical`): schema dropped,
  quotes removed, lower-cased. PostgreSQL folds unquoted names to lower case
  and SQLite compares them without case, so ``UPDATE SHOP_BOOK`` writes
  ``shop_book``. Two tables differing only by case or schema share a name: at
  worst both are invalidated.
- Writes: the target of ``INSERT``/``REPLACE``/``UPDATE``/``DELETE``/``MERGE``
  (with their ``OR ...``, ``IGNORE``, ``ONLY`` forms), every table of
  ``TRUNCATE`` and ``DROP TABLE|VIEW``, the table of ``ALTER TABLE|VIEW`` (and
  the new name of ``RENAME TO``), ``CREATE [TEMP] TABLE|VIEW``, ``RENAME
  TABLE``, ``COPY t FROM``, ``REFRESH MATERIALIZED VIEW``, statements run by
  ``EXPLAIN ANALYZE``, and the DML inside ``WITH`` bodies. Tables only read by a
  write (``UPDATE t ... FROM u``, ``DELETE FROM t USING u``, ``INSERT ...
  SELECT``) are not written. ``SELECT ... FOR UPDATE`` is a read.
- Reads: every table after ``FROM`` or ``JOIN`` at any depth, every item of a
  comma-separated ``FROM`` list (Django's ``extra(tables=...)`` included).
  ``FROM`` inside ``EXTRACT``/``TRIM``/``SUBSTRING``/``OVERLAY`` and ``IS
  DISTINCT FROM`` are not tables; ``FROM f(...)`` is not either.

Unseen: writes done by the server itself (functions called from a
``SELECT``, ``CALL``, ``DO``, triggers, rules, foreign keys declared ``ON
DELETE CASCADE`` in SQL), ``EXECUTE`` of a prepared statement, SQL that never
passes through the execute wrapper (psycopg's ``cursor.copy()``, other
clients), the tables behind a view, ``set_config()`` and per-role or
per-database isolation defaults. MySQL's backslash escapes in ``'...'`` and
nested ``/* */`` comments are not understood. MySQL multi-table ``UPDATE`` and
``DELETE`` count every table they name.
"""

from __future__ import annotations

import re
from collections.abc import Container
from typing import TypeVar

__all__ = ["canonical", "isolation_change", "read_tables", "written_tables"]

_T = TypeVar("_T")
_CACHE_SIZE = 4096
_EMPTY: frozenset[str] = frozenset()

# Quoted names (kept: a quote or dash inside them starts nothing), then the
# literals and comments they would otherwise hide.
_JUNK = re.compile(
    r"""
    (?P<quoted>"[^"]*(?:""[^"]*)*"?|`[^`]*`?|\[[^\]]*\]?)
    |(?P<literal>(?<![\w$])[Ee]'(?:[^'\\]|''|\\.)*'?
        |'[^']*(?:''[^']*)*'?
        |(?<![\w$])\$(?P<tag>(?:[^\W\d]\w*)?)\$.*?(?:\$(?P=tag)\$|\Z))
    |--[^\n]*|/\*.*?(?:\*/|\Z)
    """,
    re.VERBOSE | re.DOTALL,
)
_TOKEN = re.compile(r'"[^"]*(?:""[^"]*)*"?|`[^`]*`?|\[[^\]]*\]?|[^\W\d][\w$]*|\d[\w.]*|\S')
# The first word after leading whitespace and comments.
_HEAD = re.compile(r"(?:\s|--[^\n]*|/\*.*?\*/)*([A-Za-z]*)", re.DOTALL)
# Statements that write no table, when alone in the string.
_READ_HEADS = frozenset(
    {
        "SELECT", "VALUES", "SHOW", "SET", "RESET", "PRAGMA", "EXPLAIN", "DECLARE", "FETCH",
        "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "BEGIN", "START", "END",
    }
)  # fmt: skip
_ISOLATION_HEADS = frozenset({"SET", "BEGIN", "START", "PRAGMA", "RESET"})
# Words that may precede the statement EXPLAIN runs; none is an EXPLAIN option.
_EXPLAINED = frozenset({"SELECT", "WITH", "VALUES", "INSERT", "UPDATE", "DELETE", "MERGE"})
_EXPLAINED |= {"CREATE", "EXECUTE", "DECLARE", "TABLE"}
# A FROM inside these calls' parentheses is an argument, not a table.
_ARGUMENT_FROM = frozenset({"EXTRACT", "TRIM", "SUBSTRING", "OVERLAY"})
# Words ending a FROM list: a comma after them separates something else.
_FROM_END = frozenset(
    {
        "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "FETCH", "UNION", "INTERSECT",
        "EXCEPT", "WINDOW", "FOR", "RETURNING", "SET", "CONFLICT", "DO", "SELECT", "VALUES",
        "UPDATE", "DUPLICATE",
    }
)  # fmt: skip
_NOT_TABLES = frozenset({"SELECT", "VALUES", "WITH", "LATERAL", "ONLY", "TABLE"})

_written_cache: dict[str, frozenset[str]] = {}
_read_cache: dict[str, frozenset[str]] = {}
_isolation_cache: dict[str, str | None] = {}


def canonical(name: str) -> str:
    """``name`` without schema and quotes, lower-cased: ``"Public"."Book"`` -> ``book``."""
    return name.rsplit(".", 1)[-1].strip('"`[] ').lower()


def written_tables(sql: str) -> frozenset[str]:
    """Canonical names of the tables ``sql`` writes (empty for reads); cached per SQL."""
    found = _written_cache.get(sql)
    if found is not None:
        return found
    head = _head(sql)
    if (
        head in _READ_HEADS
        and ";" not in sql
        and (head != "EXPLAIN" or "ANALYZE" not in sql.upper())
    ):
        found = _EMPTY
    else:
        names: set[str] = set()
        for statement in _statements(sql):
            names |= _writes(statement)
        found = frozenset(names) if names else _EMPTY
    return _remember(_written_cache, sql, found)


def read_tables(sql: str) -> frozenset[str]:
    """Canonical names of the tables after ``FROM`` or ``JOIN`` anywhere in ``sql``; cached."""
    found = _read_cache.get(sql)
    if found is None:
        names: set[str] = set()
        for statement in _statements(sql):
            names |= _reads(statement)
        found = _remember(_read_cache, sql, frozenset(names))
    return found


def isolation_change(sql: str) -> str | None:
    """``"transaction"`` or ``"session"`` if ``sql`` changes the isolation level, else None.

    ``"session"`` wins when a string holds both kinds. Cached per SQL string.
    """
    if sql in _isolation_cache:
        return _isolation_cache[sql]
    found: str | None = None
    if _head(sql) in _ISOLATION_HEADS or ";" in sql:
        for statement in _statements(sql):
            change = _isolation(statement)
            if change == "session":
                found = change
                break
            found = found or change
    return _remember(_isolation_cache, sql, found)


def _remember(cache: dict[str, _T], sql: str, value: _T) -> _T:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[sql] = value
    return value


def _head(sql: str) -> str:
    match = _HEAD.match(sql)
    return match.group(1).upper() if match else ""


def _statements(sql: str) -> list[list[str]]:
    """``sql`` as token lists, one per statement.

    Everything is upper-cased (quoted names keep their quotes, so they never
    equal a keyword, and :func:`canonical` lower-cases them again), a literal
    is the single token ``'``, comments are dropped.
    """
    if "'" in sql or "--" in sql or "/*" in sql or "$" in sql:
        sql = _JUNK.sub(_blank, sql)
    tokens = _TOKEN.findall(sql.upper())
    if ";" not in tokens:
        return [tokens] if tokens else []
    statements: list[list[str]] = [[]]
    for token in tokens:
        if token == ";":
            statements.append([])
        else:
            statements[-1].append(token)
    return [statement for statement in statements if statement]


def _blank(match: re.Match[str]) -> str:
    if match.lastgroup == "quoted":
        return match.group()
    return " ' " if match.lastgroup == "literal" else " "


def _is_name(token: str) -> bool:
    return token[0] in '"`[_' or token[0].isalpha()


def _name(tokens: list[str], i: int) -> tuple[str | None, int]:
    """The canonical (possibly schema-qualified) name at ``i`` and the index after it."""
    if i >= len(tokens) or not _is_name(tokens[i]):
        return None, i
    j = i + 1
    while j + 1 < len(tokens) and tokens[j] == "." and _is_name(tokens[j + 1]):
        j += 2
    return canonical(tokens[j - 1]), j


def _skip(tokens: list[str], i: int, words: Container[str]) -> int:
    while i < len(tokens) and tokens[i] in words:
        i += 1
    return i


def _names(tokens: list[str], i: int, skip: Container[str], separators: Container[str]) -> set[str]:
    """Names from ``i`` on, each after optional ``skip`` words, joined by ``separators``."""
    names: set[str] = set()
    while True:
        name, i = _name(tokens, _skip(tokens, i, skip))
        if name is None:
            return names
        names.add(name)
        i = _skip(tokens, i, {"*"})  # PostgreSQL: ``t *`` includes the child tables
        if i >= len(tokens) or tokens[i] not in separators:
            return names
        i += 1


_INSERT_SKIP = frozenset(
    {"OR", "REPLACE", "IGNORE", "ABORT", "FAIL", "ROLLBACK", "INTO", "ONLY"}
    | {"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "QUICK"}
)
_ONE: tuple[str, ...] = ()
_LIST = (",",)


def _update_targets(tokens: list[str], i: int) -> set[str]:
    """``UPDATE t SET``; MySQL's ``UPDATE a, b`` and ``UPDATE a JOIN b`` name every table."""
    names = _names(tokens, i, _INSERT_SKIP, _ONE)
    depth = 0
    for k in range(i, len(tokens)):
        token = tokens[k]
        depth += (token == "(") - (token == ")")
        if depth == 0 and token == "SET":
            break
        if depth == 0 and token in (",", "JOIN"):
            names |= _names(tokens, k + 1, _INSERT_SKIP, _ONE)
    return names


def _delete_targets(tokens: list[str], i: int) -> set[str]:
    i = _skip(tokens, i, _INSERT_SKIP)
    if i < len(tokens) and tokens[i] == "FROM":
        return _names(tokens, i + 1, _INSERT_SKIP, _LIST)
    # MySQL's ``DELETE a FROM a JOIN b``: the targets may be aliases, so take every table.
    return _names(tokens, i, _INSERT_SKIP, _LIST) | _reads(tokens)


_KINDS = frozenset({"TABLE", "VIEW"})
_CREATE_SKIP = frozenset(
    {"OR", "REPLACE", "GLOBAL", "LOCAL", "TEMP", "TEMPORARY", "UNLOGGED", "MATERIALIZED"}
    | {"RECURSIVE"}
)
_EXISTS = frozenset({"IF", "NOT", "EXISTS", "ONLY"})


def _ddl_targets(tokens: list[str], i: int, separators: Container[str]) -> set[str]:
    """``[TEMP|MATERIALIZED...] TABLE|VIEW [IF [NOT] EXISTS] [ONLY] names``; else nothing."""
    i = _skip(tokens, i, _CREATE_SKIP)
    if i >= len(tokens) or tokens[i] not in _KINDS:
        return set()
    return _names(tokens, i + 1, _EXISTS, separators)


def _alter_targets(tokens: list[str], i: int) -> set[str]:
    names = _ddl_targets(tokens, i, _ONE)
    for k in range(i, len(tokens) - 1):
        if names and tokens[k] == "RENAME" and tokens[k + 1] in ("TO", "AS"):
            names |= _names(tokens, k + 2, (), _ONE)
    return names


def _copy_targets(tokens: list[str], i: int) -> set[str]:
    name, i = _name(tokens, i)
    if i < len(tokens) and tokens[i] == "(":
        i = tokens.index(")", i) + 1 if ")" in tokens[i:] else len(tokens)
    return {name} if name and i < len(tokens) and tokens[i] == "FROM" else set()


def _targets(tokens: list[str], i: int) -> set[str]:
    """Tables written by the statement whose verb is at ``i``."""
    verb, i = tokens[i], i + 1
    if verb in ("INSERT", "REPLACE", "MERGE"):
        return _names(tokens, i, _INSERT_SKIP, _ONE)
    if verb == "UPDATE":
        return _update_targets(tokens, i)
    if verb == "DELETE":
        return _delete_targets(tokens, i)
    if verb == "TRUNCATE":
        return _names(tokens, i, _EXISTS | {"TABLE"}, _LIST)
    if verb == "DROP":
        return _ddl_targets(tokens, i, _LIST)
    if verb == "CREATE":
        return _ddl_targets(tokens, i, _ONE)
    if verb == "ALTER":
        return _alter_targets(tokens, i)
    if verb == "RENAME" and tokens[i : i + 1] == ["TABLE"]:
        return _names(tokens, i + 1, (), {",", "TO"})
    if verb == "COPY":
        return _copy_targets(tokens, i)
    if verb == "REFRESH":
        return _names(tokens, i, {"MATERIALIZED", "VIEW", "CONCURRENTLY"}, _ONE)
    return set()


_DML = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})


def _writes(tokens: list[str]) -> set[str]:
    i = _skip(tokens, 0, {"("})
    if i >= len(tokens):
        return set()
    head = tokens[i]
    if head == "EXPLAIN":
        j = next((k for k in range(i + 1, len(tokens)) if tokens[k] in _EXPLAINED), len(tokens))
        return _writes(tokens[j:]) if "ANALYZE" in tokens[i + 1 : j] else set()
    if head != "WITH":
        return _targets(tokens, i)
    # Writable CTEs: a DML verb opening a CTE body or following the CTE list.
    names: set[str] = set()
    for k in range(i + 1, len(tokens)):
        if tokens[k] in _DML and tokens[k - 1] in ("(", ")"):
            names |= _targets(tokens, k)
    return names


def _reads(tokens: list[str]) -> set[str]:
    names: set[str] = set()
    # Per open parenthesis: the token before it, and whether a FROM list is open in it.
    openers, in_from = [""], [False]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "(":
            openers.append(tokens[i - 1] if i else "")
            in_from.append(False)
        elif token == ")":
            if len(openers) > 1:
                openers.pop()
                in_from.pop()
        elif token == "FROM":
            if openers[-1] not in _ARGUMENT_FROM and tokens[i - 2 : i] not in (
                ["IS", "DISTINCT"],
                ["NOT", "DISTINCT"],
            ):
                in_from[-1] = True
                i = _read_item(tokens, i + 1, names)
                continue
        elif token in ("JOIN", "STRAIGHT_JOIN") or (token == "," and in_from[-1]):
            i = _read_item(tokens, i + 1, names)
            continue
        elif token in _FROM_END:
            in_from[-1] = False
        i += 1
    return names


def _read_item(tokens: list[str], i: int, names: set[str]) -> int:
    """Add the table of the FROM item at ``i``; the index to go on from."""
    i = _skip(tokens, i, {"ONLY", "LATERAL"})
    if i < len(tokens) and tokens[i] in _NOT_TABLES:
        return i
    name, end = _name(tokens, i)
    if name is None or (end < len(tokens) and tokens[end] == "("):  # a set-returning function
        return i
    names.add(name)
    return end


def _isolation(tokens: list[str]) -> str | None:
    words = [token.strip('"') for token in tokens[:6]]
    head, rest = words[0], words[1:]
    if head == "SET":
        scope = ""
        if rest[:1] in (["SESSION"], ["LOCAL"], ["GLOBAL"]):
            scope, rest = rest[0], rest[1:]
        if rest[:3] == ["CHARACTERISTICS", "AS", "TRANSACTION"]:
            return "session" if "ISOLATION" in tokens else None
        if rest[:1] == ["TRANSACTION"]:  # MySQL's SET SESSION TRANSACTION lasts the session
            if "ISOLATION" not in tokens and "SNAPSHOT" not in tokens:
                return None
            return "session" if scope in ("SESSION", "GLOBAL") else "transaction"
        if rest[:1] == ["DEFAULT_TRANSACTION_ISOLATION"]:
            return "transaction" if scope == "LOCAL" else "session"
        if rest[:1] == ["TRANSACTION_ISOLATION"]:
            return "transaction"
        return None
    if head == "BEGIN" or (head == "START" and rest[:1] == ["TRANSACTION"]):
        return "transaction" if "ISOLATION" in tokens else None
    if head == "PRAGMA":
        name, _ = _name(tokens, 1)
        return "session" if name == "read_uncommitted" else None
    if head == "RESET" and rest[:1] in (["ALL"], ["DEFAULT_TRANSACTION_ISOLATION"]):
        return "session"
    return None
