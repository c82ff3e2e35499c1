"""The database-free half of the JDBC plugins: URLs, `:name` parameters, statement
splitting, JSON values and the Trigger's cursor (the databases: tests/integration)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.plugins.jdbc import (
    SqlError,
    Syntax,
    bind,
    fetch_type,
    iso_duration,
    json_safe,
    next_firing,
    parse_url,
    position_sql,
    split_statements,
)

PG = Syntax(dollar_quotes=True)
MY = Syntax(backslash_escapes=True, hash_comments=True, quote_chars="'\"`")


@pytest.mark.parametrize(("url", "expected"), [
    ("jdbc:postgresql://db.example:6543/app?user=u&password=p",
     ("db.example", 6543, "app", "u", "p")),
    ("postgresql://u:p%40ss@127.0.0.1/app", ("127.0.0.1", 5432, "app", "u", "p@ss")),
    ("jdbc:postgresql://127.0.0.1:56982/", ("127.0.0.1", 56982, None, None, None)),
    ("postgres://h", ("h", 5432, None, None, None)),
])
def test_urls_jdbc_and_plain(url: str, expected: tuple[object, ...]) -> None:
    target = parse_url(url, ("postgresql", "postgres"), 5432)
    assert (target.host, target.port, target.database, target.user, target.password) == expected


def test_a_wrong_url_is_explained_without_its_password() -> None:
    with pytest.raises(SqlError) as err:
        parse_url("mysql://u:hunter2@h/db", ("postgresql", "postgres"), 5432)
    assert "jdbc:postgresql://host:port/database" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_named_parameters_become_placeholders_outside_quotes_and_casts() -> None:
    sql = ("SELECT :a, ':a', \"col:a\", x::int, $$ :a $$, $t$:a$t$ -- :a\n"
           "/* :a */ FROM t WHERE b = :b AND c = :missing AND d LIKE '50%'")
    text, values = bind(sql, {"a": 1, "b": "two"}, PG)
    assert values == [1, "two"]
    assert text == ("SELECT %s, ':a', \"col:a\", x::int, $$ :a $$, $t$:a$t$ -- :a\n"
                    "/* :a */ FROM t WHERE b = %s AND c = :missing AND d LIKE '50%%'")


def test_mysql_quotes_backslashes_and_hash_comments() -> None:
    text, values = bind("SELECT 'it\\'s :a', `:a`, :a # :a\n", {"a": {"k": 1}}, MY)
    assert text == "SELECT 'it\\'s :a', `:a`, %s # :a\n" and values == ['{"k": 1}']


def test_without_parameters_the_sql_is_untouched() -> None:
    assert bind("SELECT '50%' :: text, :a", None, PG) == ("SELECT '50%' :: text, :a", None)


@given(st.text())
def test_bound_values_never_reach_the_text(value: str) -> None:
    text, values = bind("INSERT INTO t VALUES (:v, ':v')", {"v": value}, PG)
    assert values == [value]
    assert text == "INSERT INTO t VALUES (%s, ':v')"


@given(st.lists(st.sampled_from(["SELECT 1", "SELECT ';'", "SELECT $$;$$", "-- c;\nSELECT 2",
                                 "SELECT \"a;b\"", "SELECT 'it''s;'"]), min_size=1, max_size=5))
def test_statements_split_on_semicolons_outside_quotes(statements: list[str]) -> None:
    assert split_statements(";\n".join(statements) + ";", PG) == [s.strip() for s in statements]


def test_comment_only_statements_are_dropped() -> None:
    assert split_statements("SELECT 1; -- done\n", PG) == ["SELECT 1"]
    assert split_statements("# only a comment", MY) == []


def test_values_as_json() -> None:
    zone = dt.timezone(dt.timedelta(hours=2))
    at = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert json_safe(at, zone) == "2024-01-02T05:04:05+02:00"
    assert json_safe(dt.date(2024, 1, 2)) == "2024-01-02"
    assert json_safe(Decimal("12.50")) == 12.5 and json_safe(Decimal("7.000")) == 7
    assert json_safe(Decimal("0.1000000000000000000001")) == "0.1000000000000000000001"
    assert json_safe(b"\x00\x01") == "AAE=" and json_safe(memoryview(b"a")) == "YQ=="
    assert json_safe(float("nan")) == "nan"
    assert json_safe({"a": [Decimal("1"), None]}) == {"a": [1, None]}
    assert iso_duration(dt.timedelta(days=1, hours=2, seconds=0.5)) == "PT26H0.5S"
    assert iso_duration(dt.timedelta(0)) == "PT0S" and iso_duration(-dt.timedelta(minutes=3)) == "-PT3M"


def test_fetch_type_honours_the_deprecated_flags() -> None:
    assert fetch_type({}) == "NONE"
    assert fetch_type({"fetchOne": True, "fetchType": "FETCH"}) == "FETCH_ONE"
    with pytest.raises(SqlError, match="fetchType must be one of"):
        fetch_type({"fetchType": "ALL"})


def test_position_query_wraps_and_orders() -> None:
    sql = position_sql("SELECT * FROM t;", "id", '"id"', True, False)
    assert re.sub(r"\s+", " ", sql) == (
        'SELECT * FROM ( SELECT * FROM t ) AS gitflows_q WHERE gitflows_q."id" > '
        ':gitflows_position ORDER BY gitflows_q."id"')
    assert position_sql("SELECT 1", "id", "`id`", False, True).endswith("ORDER BY gitflows_q.`id` LIMIT 1")


def test_digest_cursor_fires_on_change_and_again_after_an_empty_result() -> None:
    a, b = {"id": 1}, {"id": 2}
    first = next_firing([a, b], None, None)
    assert first is not None and first.key is not None and first.key.startswith("1-")
    assert next_firing([b, a], first.cursor, None) is None  # same rows, any order
    changed = next_firing([a], first.cursor, None)
    assert changed is not None and changed.key is not None and changed.key.startswith("2-")
    emptied = next_firing([], changed.cursor, None)
    assert emptied is not None and emptied.key is None and emptied.cursor["digest"] is None
    assert next_firing([], emptied.cursor, None) is None  # nothing to save twice
    again = next_firing([a], emptied.cursor, None)
    assert again is not None and again.key is not None and again.key != changed.key


def test_position_cursor_keeps_the_greatest_position() -> None:
    fired = next_firing([{"id": None}, {"id": 3}, {"id": 5}], {"fired": 4}, "id")
    assert fired is not None and fired.cursor == {"fired": 5, "position": 5}
    assert fired.key is not None and fired.key.startswith("5-")
    assert next_firing([], fired.cursor, "id") is None
    with pytest.raises(SqlError, match="positionColumn 'nope' is not a column"):
        next_firing([{"id": 1}], None, "nope")
