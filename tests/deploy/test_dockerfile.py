"""The Dockerfile's promises, read off the file (fast, in every run; building and running the image
is test_image.py, opt-in, and the build stage's commands are test_wheel.py's): two stages, the
runtime lock hash-checked and wheels only, a final stage with the virtualenv and nothing to build
with, a non-root user, a health check, one entry point, and every package the wheel holds copied in."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib

from tests.deploy.lockfiles import ROOT
from tests.deploy.settings_names import known_variables


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def test_two_stages_from_the_same_configurable_python_base() -> None:
    build, final = _stages()
    assert build[0] == ("FROM", "${PYTHON_IMAGE} AS build") and final[0] == ("FROM", "${PYTHON_IMAGE}")
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim-bookworm") in _instructions()


def test_the_build_installs_the_runtime_lock_hash_checked_and_wheels_only() -> None:
    build, _ = _stages()
    runs = " ".join(arg for kind, arg in build if kind == "RUN")
    assert "pip install --require-hashes --only-binary=:all: -r requirements/runtime.txt" in runs
    assert "pip install --no-deps /tmp/wheels/*.whl" in runs and "pip check" in runs
    assert "-e " not in runs  # the project as a wheel, not an editable checkout


def test_the_final_stage_runs_as_a_user_with_a_health_check_and_nothing_to_build_with() -> None:
    _, final = _stages()
    kinds = dict(final)
    assert kinds["USER"] == "10001:10001"
    assert kinds["HEALTHCHECK"].split("CMD", 1)[1].strip().startswith('["python3"')
    assert json.loads(kinds["ENTRYPOINT"]) == ["switchyard"]
    assert json.loads(kinds["VOLUME"]) == ["/var/lib/switchyard"]
    copies = [arg for kind, arg in final if kind == "COPY"]
    assert copies == ["--from=build /opt/switchyard /opt/switchyard"], "only the virtualenv goes to the final stage"
    runs = " ".join(arg for kind, arg in final if kind == "RUN")
    assert not re.search(r"\b(pip|apt-get|gcc|make)\b", runs), runs
    # the user is set after the last RUN: nothing the image runs at start is root's
    assert max(i for i, (kind, _) in enumerate(final) if kind == "RUN") < [k for k, _ in final].index("USER")


def test_every_package_of_the_wheel_is_copied_and_not_ignored() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "packages"]
    build, _ = _stages()
    copied = {arg.split()[0] for kind, arg in build if kind == "COPY"}
    assert set(packages) <= copied
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]

    def sent(path: str) -> bool:  # the last matching rule wins, as in Docker's .dockerignore
        included = True
        for rule in rules:
            negated = rule.startswith("!")
            if fnmatch.fnmatch(path, rule.lstrip("!")):
                included = negated
        return included

    for path in [*packages, "requirements/runtime.txt", "pyproject.toml", "README.md"]:
        assert sent(path), f".dockerignore keeps {path} out of the build context"
    assert not sent(".venv") and not sent("data") and not sent("tests")


def test_the_image_environment_names_real_settings() -> None:
    _, final = _stages()
    env = " ".join(arg for kind, arg in final if kind == "ENV")
    names = set(re.findall(r"\b(SWITCHYARD_[A-Z_]+)=", env))
    assert names and names <= known_variables(), names - known_variables()
