"""`switchyard alerts test`: send a test alert to every configured webhook now and say, per channel,
whether it arrived (exit 1 if any did not). ``build_alerts`` is how the loop jobs get their detector.
Mount with ``app.add_typer(alerts_app, name="alerts")``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from .alert_delivery import AlertMetrics
    from .alert_detect import AlertDetector
    from .alert_settings import AlertSettings

alerts_app = typer.Typer(help="Webhook alerts (SWITCHYARD_ALERT_WEBHOOKS): see docs/alerts.md.", no_args_is_help=True)


def load_settings() -> AlertSettings:
    from pydantic_settings import SettingsError

    from .alert_settings import AlertSettings

    try:
        return AlertSettings()
    except ValidationError as error:  # name the setting, never echo its value (URLs and secrets)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
    except SettingsError as error:  # not JSON at all; its message names the field, not the value
        problems = f"{error} (not valid JSON)"
    print(f"alerts: the SWITCHYARD_ALERT_* settings are invalid: {problems}", file=sys.stderr)
    raise typer.Exit(2)


def build_alerts(engine: Engine, settings: AlertSettings, metrics: AlertMetrics | None = None) -> AlertDetector | None:
    """The loop's detector and its sender, or None when no channel is configured."""
    if not settings.webhooks:
        return None
    from .alert_delivery import AlertSender
    from .alert_detect import AlertDetector

    return AlertDetector(engine, settings, AlertSender(settings, metrics))


@alerts_app.command("test")
def test_command(
    retries: Annotated[int, typer.Option(min=0, max=10, help="Retries per channel (default: none).")] = 0,
) -> None:
    """Send a test alert to every configured channel; exit 1 if any channel did not accept it."""
    from core.alerts import probe_alert

    from .alert_delivery import AlertSender

    settings = load_settings()
    if not settings.webhooks:
        print("alerts: no channel configured (SWITCHYARD_ALERT_WEBHOOKS is empty)", file=sys.stderr)
        raise typer.Exit(1)
    sender = AlertSender(settings)
    alert = probe_alert(datetime.now(UTC).replace(tzinfo=None))
    failed = 0
    try:
        for channel in settings.webhooks:
            outcome = sender.deliver(channel, alert, retries=retries)
            failed += not outcome.ok
            print(f"{'ok    ' if outcome.ok else 'FAILED'} {outcome.channel}: {outcome.detail}", flush=True)
    finally:
        sender.close(timeout_s=1)
    raise typer.Exit(1 if failed else 0)
