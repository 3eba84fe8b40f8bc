"""Every setting of every service is documented in docs/configuration.md."""

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from dashboard.settings import DashboardSettings
from ingest.settings import IngestSettings
from proxy.settings import ProxySettings
from signin.settings import SigninSettings
from store.settings import StoreSettings
from switchyard.alert_settings import AlertSettings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


@pytest.mark.parametrize("settings", [ProxySettings, IngestSettings, DashboardSettings, StoreSettings,
                                      AlertSettings, SigninSettings])
def test_every_setting_is_documented(settings: type[BaseSettings]) -> None:
    missing = [name for name in settings.model_fields if f"(`{name}`)" not in DOC]
    assert missing == [], f"{settings.__name__} settings missing from docs/configuration.md: {missing}"
