"""The domain store: SQLAlchemy models, engine, migrations and repositories."""
