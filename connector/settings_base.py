"""What every adapter's `settings:` block is built from: a strict model and secrets from the
environment.

`StrictModel` refuses unknown keys, so a typo in config.yaml is an error naming the key, not a
silently ignored setting. `secret_from_env` takes a secret given inline (config.yaml's `${ENV}`
interpolation puts it there) or from a named environment variable, and says which variable is
missing without ever quoting a value.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, SecretStr

from connector.errors import ConfigurationError


class StrictModel(BaseModel):
    """A settings model whose unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def secret_from_env(
    value: SecretStr | None, env_name: str | None, what: str, *, system: str
) -> SecretStr:
    """`value` if set, else the variable `env_name`; a `ConfigurationError` naming it if neither."""
    if value is not None and value.get_secret_value():
        return value
    if env_name:
        found = os.environ.get(env_name)
        if found:
            return SecretStr(found)
        raise ConfigurationError(f"{system} {what}: environment variable {env_name} is not set")
    raise ConfigurationError(f"{system} {what} is not configured")
