from tests.store.databases import postgres_url

__all__ = ["postgres_url"]
