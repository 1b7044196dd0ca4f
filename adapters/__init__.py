"""The built-in adapters: one package per system (ERP, HubSpot, Salesforce)."""
