"""Mapping files → compiled, validated mappers that translate native ↔ canonical both ways.

Entry points for the rest of the product: `MappingCatalog` (the engine's `MapperSource`),
`check` and `json_schema` (the `connector mappings` CLI) and `preview`.
"""
