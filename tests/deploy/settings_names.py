"""The environment variables the services read, as docs/configuration.md lists them (a test in
tests/docs keeps that page complete), so the deployment files can be checked against them."""

from __future__ import annotations

import re

from tests.deploy.lockfiles import ROOT

# Read by the image's HEALTHCHECK, not by a service.
IMAGE_ONLY = {"SWITCHYARD_HEALTHCHECK_URL"}


def documented_settings() -> set[str]:
    text = (ROOT / "docs" / "configuration.md").read_text()
    return set(re.findall(r"`((?:SWITCHYARD_|DATABASE_URL)[A-Z0-9_]*)`", text)) | {"ANTHROPIC_API_KEY"}


def known_variables() -> set[str]:
    return documented_settings() | IMAGE_ONLY
