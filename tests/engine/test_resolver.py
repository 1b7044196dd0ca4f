"""The binding resolver holds a bounded slice of the bindings, and never loses a binding."""

from __future__ import annotations

import pytest

from connector.engine import resolver as resolver_module
from connector.engine.resolver import BindingResolver
from connector.model import Entity
from connector.state.store import StateStore

SIZE = 50
CUSTOMER = Entity.CUSTOMER


@pytest.fixture(autouse=True)
def small_generations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolver_module, "RECENT", SIZE)


def bind_all(store: StateStore, count: int) -> None:
    with store.transaction() as tx:
        for n in range(count):
            tx.bind(CUSTOMER, f"key-{n}", "crm", f"crm-{n}")


def test_the_cache_stays_bounded_over_many_pages(store: StateStore) -> None:
    bind_all(store, 20 * SIZE)
    refs = BindingResolver(store, "crm")
    for page in range(20):  # pages of SIZE records: loaded, then learned as if written
        ids = [f"crm-{n}" for n in range(page * SIZE, (page + 1) * SIZE)]
        assert refs.load_external_ids(CUSTOMER, ids) == []
        for n in range(page * SIZE, (page + 1) * SIZE):
            refs.learn(CUSTOMER, f"key-{n}", f"crm-{n}")

    assert refs.held() <= 4 * SIZE  # two generations per direction, not 20 pages' worth


def test_a_dropped_binding_is_asked_of_the_store_again(store: StateStore) -> None:
    bind_all(store, 3 * SIZE)
    refs = BindingResolver(store, "crm")
    for n in range(3 * SIZE):
        refs.learn(CUSTOMER, f"key-{n}", f"crm-{n}")

    assert refs.bound_key(CUSTOMER, "crm-0") == "key-0"
    assert refs.canonical_key(CUSTOMER, "crm-1") == "key-1"
    assert refs.external_id(CUSTOMER, "key-2") == "crm-2"
    assert refs.bound_key(CUSTOMER, "crm-unknown") is None


def test_records_loaded_as_unbound_stay_unbound_without_asking_again(store: StateStore) -> None:
    refs = BindingResolver(store, "crm")
    assert refs.load_external_ids(CUSTOMER, ["a", "b"]) == ["a", "b"]
    with store.transaction() as tx:  # bound behind the resolver's back: its answer stands
        tx.bind(CUSTOMER, "key-a", "crm", "a")

    assert refs.bound_key(CUSTOMER, "a") is None
    assert refs.load_external_ids(CUSTOMER, ["a"]) == []  # a new page asks again
    assert refs.bound_key(CUSTOMER, "a") == "key-a"


def test_a_dry_run_keeps_what_it_planned(store: StateStore) -> None:
    refs = BindingResolver(store, "crm", keep_all=True)
    for n in range(5 * SIZE):
        refs.learn(CUSTOMER, f"key-{n}", "(new customer)" if n == 0 else f"planned-{n}")

    assert refs.external_id(CUSTOMER, "key-0") == "(new customer)"
    assert refs.held() == 2 * 5 * SIZE


def test_forget_and_deleted_still_empty_references(store: StateStore) -> None:
    bind_all(store, 1)
    refs = BindingResolver(store, "crm")
    refs.load_keys(CUSTOMER, ["key-0"])
    with store.transaction() as tx:
        tx.unbind(CUSTOMER, "key-0", "crm")
        refs.forget(CUSTOMER, "key-0")
        refs.deleted(CUSTOMER, keys=["key-0"], external_ids=["crm-0"])

    assert refs.external_id(CUSTOMER, "key-0") == resolver_module.DELETED_REFERENCE
    assert refs.canonical_key(CUSTOMER, "crm-0") == resolver_module.DELETED_REFERENCE
    assert refs.bound_key(CUSTOMER, "crm-0") is None


def test_a_resolver_says_once_it_noted_a_deletion(store: StateStore) -> None:
    """Until then what it learnt holds (the engine does not learn a binding twice)."""
    refs = BindingResolver(store, "crm")
    refs.learn(CUSTOMER, "key-0", "crm-0")
    assert not refs.noted_deletions
    refs.deleted(CUSTOMER, keys=["key-9"])
    assert refs.noted_deletions
    other = BindingResolver(store, "crm")
    other.deleted(CUSTOMER, external_ids=["crm-9"])
    assert other.noted_deletions


def test_a_page_larger_than_a_generation_is_kept_whole(store: StateStore) -> None:
    refs = BindingResolver(store, "crm")
    refs.expect(3 * SIZE)
    for n in range(3 * SIZE):
        refs.learn(CUSTOMER, f"key-{n}", f"crm-{n}")
    with store.transaction() as tx:  # not in the store: only the cache can answer
        tx.bind(CUSTOMER, "other", "crm", "crm-0")

    assert refs.bound_key(CUSTOMER, "crm-0") == "key-0"


def test_a_pages_keys_and_both_sides_bindings_come_from_one_query(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bound_bindings`: the keys `bound_keys` gives, and the store's bindings by key here and
    in the other system, asked once; a key the resolver holds stands (a dry run's), with no
    binding the store holds under another key on either side."""
    with store.transaction() as tx:
        tx.bind(CUSTOMER, "key-1", "erp", "e1", snapshot={"name": "one"})
        tx.bind(CUSTOMER, "key-2", "erp", "e2", snapshot={"name": "two"})
        tx.bind(CUSTOMER, "key-5", "erp", "e5")  # bound in the source alone
        for key in ("key-1", "key-2"):
            tx.bind(CUSTOMER, key, "crm", f"c-{key}", snapshot={"name": key})
    refs = BindingResolver(store, "erp")
    refs.learn(CUSTOMER, "planned", "e2")  # learnt in a dry run: the store has another key
    refs.learn(CUSTOMER, "planned-3", "e3")  # learnt in a dry run: not in the store at all
    asked: list[tuple[str, list[str]]] = []
    both = store.both_sides_by_id
    monkeypatch.setattr(
        store,
        "both_sides_by_id",
        lambda *args: asked.append((args[2], list(args[3]))) or both(*args),
    )
    monkeypatch.setattr(store, "keys_for", lambda *args: pytest.fail("asked for keys again"))

    keys, bindings = refs.bound_bindings(CUSTOMER, ["e1", "e2", "e3", "e4", "e5"], "crm")

    assert asked == [("crm", ["e1", "e2", "e3", "e4", "e5"])]
    assert keys == {"e1": "key-1", "e2": "planned", "e3": "planned-3", "e5": "key-5"}
    assert bindings.keys() == {"key-1", "key-5"} and bindings["key-1"].snapshot == {"name": "one"}
    assert bindings.other.keys() == {"key-1"}  # key-5 is not bound in crm; key-2 not this key's
    assert bindings.other["key-1"].external_id == "c-key-1"
    assert bindings.other["key-1"].snapshot == {"name": "key-1"}
    # Learnt both ways, the unbound one as unbound, as `bound_keys` leaves them.
    assert refs.external_id(CUSTOMER, "key-1") == "e1"
    assert refs.bound_key(CUSTOMER, "e4") is None


def test_a_pages_lookups_and_learning_in_one_call_keep_the_generations() -> None:
    """`Recent.get_all` and `set_all` behave as `get` and `[]=` one at a time: an entry read
    from the old generation moves to the new one, and a generation is cut at its size."""
    one, many = resolver_module.Recent[str, int](4), resolver_module.Recent[str, int](4)
    for n in range(6):
        one[f"k{n}"] = n
    many.set_all((f"k{n}", n) for n in range(6))
    assert (one._old, one._new) == (many._old, many._new)
    keys = ["k0", "k5", "k9", "k1"]
    got = many.get_all(keys)
    assert got == [one.get(key) for key in keys] and got[2] is resolver_module._UNKNOWN
    assert (one._old, one._new) == (many._old, many._new)


def test_learning_a_page_at_once_is_learning_each(store: StateStore) -> None:
    refs = BindingResolver(store, "crm")
    refs.learn_all(CUSTOMER, [(f"key-{n}", f"crm-{n}") for n in range(3)])
    assert refs.bound_key(CUSTOMER, "crm-2") == "key-2"
    assert refs.external_id(CUSTOMER, "key-0") == "crm-0"
    refs.deleted(CUSTOMER, external_ids=["crm-9"], keys=["key-9"])
    refs.learn_all(CUSTOMER, [("key-9", "crm-9")])  # learnt again: no longer deleted
    assert refs.canonical_key(CUSTOMER, "crm-9") == "key-9"
    assert refs.external_id(CUSTOMER, "key-9") == "crm-9"
