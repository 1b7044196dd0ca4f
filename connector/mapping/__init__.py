"""Mapping files → compiled, validated mappers that translate native ↔ canonical both ways."""
