"""A page of records on its way from the source to the target, as named stages.

Each stage is a module with its inputs and outputs as data; `RouteRun` (route_run.py) only
wires them, in this order:

    read        a source page → the records to sync and those deleted there    (read.py)
    map         native → canonical with the source's mapper                     (map.py)
    references  parents without a key, or without a record in the target, first (references.py)
    match       each record's canonical key: binding, natural key, or new       (match.py)
    plan        what to write for each record, in the target's native fields    (plan.py)
    bind        the source side bound before the write; results and failures after (bind.py)
    write       batches to the target, several in flight                        (write.py)
    checkpoint  the cursor past the pages that are fully handled, in order      (checkpoint.py)
    deletes     records deleted in the source, per the entity's policy          (deletes.py)
"""
