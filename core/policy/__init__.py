"""Routing policy: schema, validation, compilation to frozen tables, the pure decide(), and diff."""
