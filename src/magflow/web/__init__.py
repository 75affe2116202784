"""The dashboard: server-rendered pages (Jinja2 + htmx) served by the API's own app at ``/``."""
