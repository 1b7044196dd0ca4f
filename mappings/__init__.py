"""The shipped default mapping files, one folder per system kind (`<kind>/<entity>.yaml`).

A package so the YAML files install with the wheel and are found with `importlib.resources`;
copy a file into your own mapping directory (`config.yaml`) to change it.
"""
