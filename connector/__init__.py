"""ERP ↔ CRM integration middleware: the core, which names no CRM."""

__version__ = "0.1.0"
