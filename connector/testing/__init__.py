"""Test kit for the product and for third-party adapter authors.

* `connector.testing.memory`: an in-memory (optionally file-backed) adapter, registered as
  `memory`, whose native fields are canonical paths — a system with no API surprises, for demos
  and engine tests;
* `connector.testing.identity`: the mapper that goes with it;
* `connector.testing.contract`: the adapter contract suite any adapter runs against itself.
"""
