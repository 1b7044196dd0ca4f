"""Binding snapshots are JSON-encoded once, by the store's own encoder, on both databases."""

from __future__ import annotations

from connector.state.snapshots import encode_snapshot, snapshot_hash
from connector.state.store import StateStore

SNAPSHOT = {
    "name": "Émile & Söhne",
    "employees": 12,
    "credit_limit": "50000.5",
    "history.last_order_date": None,
    "lines": [{"sku": "A-1", "quantity": "2"}],
    "custom.tier": {"b": 1, "a": [True, False]},
}


def test_a_pre_encoded_snapshot_reads_back_as_the_values_it_encodes(store: StateStore):
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot=encode_snapshot(SNAPSHOT))
        tx.bind("customer", "k1", "erp", "7", snapshot=dict(SNAPSHOT))
    by_crm = store.bindings_for("customer", "crm", ["k1"])["k1"]
    by_erp = store.bindings_for("customer", "erp", ["k1"])["k1"]
    assert by_crm.snapshot == SNAPSHOT == by_erp.snapshot
    assert by_crm.hash == by_erp.hash == snapshot_hash(SNAPSHOT)


def test_other_json_columns_are_still_encoded_by_the_store(store: StateStore):
    from connector.errors import RecordError

    with store.transaction() as tx:
        tx.record_failure(
            "r", "customer", "7", key=None, stage="map", error=RecordError("bad"),
            payload={"name": "A", "nested": {"x": 1}}, retryable=False,
        )  # fmt: skip
    [failure] = store.failures()
    assert failure.payload == {"name": "A", "nested": {"x": 1}}


def test_the_fingerprint_does_not_depend_on_the_order_paths_were_set_in():
    reordered = dict(reversed(list(SNAPSHOT.items())))
    assert encode_snapshot(reordered) == encode_snapshot(SNAPSHOT)
    assert snapshot_hash({"name": "A"}) != snapshot_hash({"name": "B"})
