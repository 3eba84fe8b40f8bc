"""Packaging (issue 20, item 1): every dependency has a range with an upper bound, the lock files
CI and the image install from hold a version inside every range, and the runtime lock (`make demo`,
the image) carries none of the test tools."""

from __future__ import annotations

import re

import pytest
from packaging.utils import canonicalize_name

from tests.deploy.lockfiles import DEV_LOCK, ROOT, RUNTIME_LOCK, pinned_here, pins, project, requirements

TEST_TOOLS = {"pytest", "hypothesis", "ruff", "mypy", "playwright", "schemathesis", "ipykernel", "nbclient",
              "py-spy", "import-linter", "kubernetes-validate"}


def test_every_runtime_dependency_has_an_upper_bound() -> None:
    unbounded = [str(r) for r in requirements() if not any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier)]
    assert not unbounded, f"runtime dependencies without an upper bound: {unbounded}"


def test_the_extras_are_separate() -> None:
    extras = project()["optional-dependencies"]
    assert {"test", "bench", "notebooks"} <= set(extras)
    runtime = {canonicalize_name(r.name) for r in requirements()}
    for extra in ("test", "bench", "notebooks"):
        leaked = runtime & {canonicalize_name(r.name) for r in requirements(extra) if r.name != "switchyard"}
        assert not leaked, f"{extra} repeats runtime dependencies: {leaked}"


@pytest.mark.parametrize(("lock", "extras"), [(RUNTIME_LOCK, ()), (DEV_LOCK, ("test", "bench", "notebooks"))],
                         ids=["runtime", "dev"])
def test_the_lock_satisfies_every_requirement(lock, extras) -> None:  # type: ignore[no-untyped-def]
    locked = pinned_here(lock)
    wanted = [r for extra in (None, *extras) for r in requirements(extra) if r.name != "switchyard"]
    problems = []
    for requirement in wanted:
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in {lock.name}")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} in {lock.name} is outside {requirement.specifier}")
    assert not problems, "run `make lock` after changing pyproject.toml:\n" + "\n".join(problems)


def test_runtime_and_dev_locks_agree_and_the_runtime_one_has_no_test_tools() -> None:
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)

    def versions(entries: list) -> set:  # type: ignore[type-arg]
        return {version for version, _ in entries}  # markers may differ (tzdata: Windows only at runtime)

    differing = {name: (runtime[name], dev.get(name)) for name in runtime
                 if versions(runtime[name]) != versions(dev.get(name, []))}
    assert not differing, f"the runtime lock must be the dev lock's subset (make lock): {differing}"
    assert not TEST_TOOLS & set(runtime), TEST_TOOLS & set(runtime)
    assert set(dev) >= TEST_TOOLS


def test_the_locks_are_hash_checked_and_made_for_python_311() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        text = lock.read_text()
        header = text.splitlines()[1]
        assert "--universal" in header and "--python-version 3.11" in header and "--generate-hashes" in header
        # every pin carries at least one hash (pip's --require-hashes refuses the file otherwise)
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
        assert all("--hash=sha256:" in block for block in blocks if re.match(r"[A-Za-z0-9].*==", block))


def test_make_demo_installs_the_runtime_lock_and_make_test_the_dev_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: \$\(RUNTIME_STAMP\)$", makefile, re.MULTILINE)
    runtime_rule = makefile.split("$(RUNTIME_STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "--require-hashes -r requirements/runtime.txt" in runtime_rule and "[test]" not in runtime_rule
    assert re.search(r"^test: \$\(STAMP\)", makefile, re.MULTILINE)
    assert "--require-hashes -r requirements/dev.txt" in makefile.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
