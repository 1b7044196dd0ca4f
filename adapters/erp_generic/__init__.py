"""Generic ERP adapter: any SQL database (SQLAlchemy) or REST/JSON ERP, configured, not coded."""
