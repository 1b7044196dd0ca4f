"""HubSpot CRM adapter: companies, contacts and deals (with line items) over HubSpot's REST API."""
