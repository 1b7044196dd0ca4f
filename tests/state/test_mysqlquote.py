"""MariaDB stores quote strings exactly as PyMySQL does (`connector.state.mysqlquote`).

The statement text a MariaDB store sends must not change with the faster escaping: the text is
held to PyMySQL's own `escape_string` for any string, and a store's connection is checked to
escape through it (a PyMySQL release that stopped calling `_escape_string` would make this
fail rather than silently fall back).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymysql.converters import escape_string as pymysql_escape_string

from connector.state.mysqlquote import QuotingConnection, escape_string
from connector.state.store import StateStore

SPECIAL = "\\\0\n\r\032\"'"


@given(st.text() | st.text(alphabet=SPECIAL + "ab\\é北\U0001f600"))
def test_the_escaped_text_is_pymysqls(value: str) -> None:
    assert escape_string(value) == pymysql_escape_string(value)


def test_every_escaped_character_and_json_text() -> None:
    for character in SPECIAL:
        assert escape_string(f"a{character}b") == pymysql_escape_string(f"a{character}b")
    snapshot = '{"name":"O\'Brien \\"Ltd\\"","path":"C:\\\\x","u":"\\u00e9"}'
    assert escape_string(snapshot) == pymysql_escape_string(snapshot)


@pytest.mark.parametrize("store_url", ["mariadb"], indirect=True)
def test_a_mariadb_store_escapes_through_it(store: StateStore) -> None:
    with store.engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        assert isinstance(driver, QuotingConnection)
        calls: list[str] = []
        driver.__dict__["_escape_string"] = lambda s: calls.append(s) or escape_string(s)
        assert driver.escape("O'Brien") == "'O\\'Brien'"
        del driver.__dict__["_escape_string"]
    assert calls == ["O'Brien"]
    with store.transaction() as tx:  # and what it writes reads back as it was
        tx.bind("customer", "k'1", "crm", 'id"\\\n', snapshot={"name": "O'Brien \"\\\0"})
    binding = store.bindings_for("customer", "crm", ["k'1"])["k'1"]
    assert binding.external_id == 'id"\\\n' and binding.snapshot == {"name": "O'Brien \"\\\0"}
