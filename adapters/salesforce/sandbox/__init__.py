"""A local emulator of the Salesforce REST API subset the adapter uses (see ../BEHAVIOR.md)."""

from .app import create_app, serve
from .network import ConnectionDropped, Reset
from .org import Org
from .state import Fault, Sandbox, SandboxOptions

__all__ = [
    "ConnectionDropped",
    "Fault",
    "Org",
    "Reset",
    "Sandbox",
    "SandboxOptions",
    "create_app",
    "serve",
]
