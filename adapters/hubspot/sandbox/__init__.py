"""A local emulator of the HubSpot CRM API subset the adapter uses (see ../SANDBOX.md)."""

from .admin import seed_records
from .app import create_app, serve
from .clock import Clock, ManualClock, SystemClock
from .settings import FaultRates, SandboxOptions, Subscription, WebhookOptions
from .state import Sandbox
from .webhooks import sign_v1, sign_v3

__all__ = [
    "Clock",
    "FaultRates",
    "ManualClock",
    "Sandbox",
    "SandboxOptions",
    "Subscription",
    "SystemClock",
    "WebhookOptions",
    "create_app",
    "seed_records",
    "serve",
    "sign_v1",
    "sign_v3",
]
