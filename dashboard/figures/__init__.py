"""Pure figure builders: polars frames in, plotly figures out. No database, no Dash."""
