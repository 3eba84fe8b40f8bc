"""GET /export/chargeback.csv?month=YYYY-MM[&month=…]&by=team: the chargeback CSV as a download,
for signed-in users only (the gate in dashboard.auth refuses everyone else), each export written
to the audit log with who and when."""

from __future__ import annotations

from flask import Flask, Response, request

from dashboard.chargeback import ChargebackError, chargeback_csv, chargeback_rows, check_request, record_export
from dashboard.context import DashboardContext

EXPORT_PATH = "/export/chargeback.csv"


def install_export(server: Flask, ctx: DashboardContext) -> None:
    def export() -> Response:
        months = request.args.getlist("month")
        by = request.args.get("by", "team")
        try:
            check_request(months, by)
        except ChargebackError as error:
            return Response(f"{error}\n", status=400, mimetype="text/plain")
        user = ctx.user()
        rows = chargeback_rows(ctx.engine, months, by)
        record_export(ctx.engine, actor=user.name, months=months, by=by, rows=rows, channel="dashboard",
                      now=ctx.now())
        name = f"chargeback-{'_'.join(months)}-{by}.csv"
        return Response(chargeback_csv(rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "no-store"})

    server.add_url_rule(EXPORT_PATH, "export_chargeback", export, methods=["GET"])
