from tests.store.databases import db_engine, db_url, postgres_url

__all__ = ["db_engine", "db_url", "postgres_url"]
