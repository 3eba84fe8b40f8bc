"""The dashboard's pages. Each module has PATH, TITLE, ``layout(ctx, query)`` (what the router shows)
and ``register(app, ctx)`` (its callbacks), and builds its data and figures in ``content``
functions that the benchmark times. Nothing is registered at import."""
