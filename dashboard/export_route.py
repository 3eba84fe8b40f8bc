"""GET /export/chargeback.csv?month=YYYY-MM[&month=…]&by=team[&then=model], or with
``from=YYYY-MM-DD&to=YYYY-MM-DD`` instead of months: the chargeback CSV as a download, for signed-in
users only (the gate in dashboard.auth refuses everyone else), each export written to the audit log
with who and when. A bad request gets a 400 saying why; an unusable cost-centre file a 503."""

from __future__ import annotations

from flask import Flask, Response, request

from dashboard.chargeback import (
    ChargebackError,
    CostCentreFileError,
    chargeback_csv,
    chargeback_request,
    chargeback_rows,
    load_cost_centres,
    record_export,
)
from dashboard.context import DashboardContext

EXPORT_PATH = "/export/chargeback.csv"


def install_export(server: Flask, ctx: DashboardContext) -> None:
    def export() -> Response:
        try:
            asked = chargeback_request(months=request.args.getlist("month"), first=request.args.get("from"),
                                       last=request.args.get("to"), by=request.args.get("by", "team"),
                                       then=request.args.get("then"))
            centres = load_cost_centres(ctx.settings.cost_centres_file)
        except CostCentreFileError as error:
            return Response(f"{error}\n", status=503, mimetype="text/plain")
        except ChargebackError as error:
            return Response(f"{error}\n", status=400, mimetype="text/plain")
        user = ctx.user()
        rows = chargeback_rows(ctx.engine, asked, centres)
        record_export(ctx.engine, actor=user.name, request=asked, rows=rows, channel="dashboard", centres=centres,
                      now=ctx.now())
        periods = "_".join(period.label.replace("..", "_to_") for period in asked.periods)
        name = f"chargeback-{periods}-{asked.grouping.label}.csv"
        return Response(chargeback_csv(rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "no-store"})

    server.add_url_rule(EXPORT_PATH, "export_chargeback", export, methods=["GET"])
