"""The web app: login, role pages, health, static assets (all served by the product itself)."""
