"""The container image (issue 20, item 2), built from the Dockerfile and run as a container would
run it. Opt-in (SWITCHYARD_IMAGE_TEST=1, root, podman, and debootstrap or a base image): a build
takes minutes and needs the package index, so CI leaves it out (docs/deploy.md says what CI checks).

No image registry is reachable here, so the base is made locally: a Debian bookworm root from
debootstrap with python3 and its venv module, imported as localhost/switchyard-base:bookworm (or
any image named by SWITCHYARD_IMAGE_BASE). `podman run` cannot start containers in this sandbox (crun
refuses its hybrid cgroups, runc may not set rlimits), so the built image's root filesystem is run
the way a container runtime would: mounted read-only, the data volume and a /tmp bound in, the
process started as the image's user with the image's environment; then /healthz is asked and the
image's own HEALTHCHECK command is run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.lockfiles import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

BASE = os.environ.get("SWITCHYARD_IMAGE_BASE", "localhost/switchyard-base:bookworm")
IMAGE = "localhost/switchyard:image-test"
# what a container runtime sets up: a read-only root, the data volume, /tmp, /proc, /dev; then the
# image's user
SANDBOX = """set -eu
root=$1; data=$2; shift 2
mount --bind "$root" "$root"; mount -o remount,bind,ro "$root"
mount --bind "$data" "$root/var/lib/switchyard"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
exec chroot --userspec="$USERSPEC" "$root" /usr/bin/env -i "$@"
"""


def _opted_in() -> None:
    if os.environ.get("SWITCHYARD_IMAGE_TEST") != "1":
        pytest.skip("building the image takes minutes and the package index: set SWITCHYARD_IMAGE_TEST=1")
    missing = [tool for tool in ("podman", "unshare", "chroot") if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        pytest.skip(f"needs root and {', '.join(missing) or 'podman'} (apt-get install podman debootstrap)")


def _run(args: list[str], timeout: float = 1200) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} → {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _exists(image: str) -> bool:
    return subprocess.run(["podman", "image", "exists", image], capture_output=True).returncode == 0


def _make_base(tmp: Path) -> None:
    if _exists(BASE):
        return
    if shutil.which("debootstrap") is None:
        pytest.skip(f"no base image {BASE} and no debootstrap to make one")
    rootfs = tmp / "rootfs"
    _run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", "bookworm",
          str(rootfs), "http://deb.debian.org/debian"])
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["podman", "import", "-", BASE], stdin=tar.stdout, check=True, capture_output=True)
    assert tar.wait() == 0


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:  # type: ignore[type-arg]
    _opted_in()
    _make_base(tmp_path_factory.mktemp("base"))
    # The host's package-index settings (a mirror, a proxy's CA) go into the build when it has any.
    index = [arg for path in ("/etc/pip.conf", "/etc/ssl/certs/ca-certificates.crt") if Path(path).exists()
             for arg in ("-v", f"{path}:{path}:ro")]
    _run(["podman", "build", "--isolation", "chroot", "--format", "docker", "--network", "host", *index,
          "--build-arg", f"PYTHON_IMAGE={BASE}", "-t", IMAGE, str(ROOT)])
    [config] = json.loads(_run(["podman", "image", "inspect", IMAGE]))
    yield config
    subprocess.run(["podman", "rmi", "-f", IMAGE], capture_output=True)


def test_the_image_runs_as_its_own_user_with_one_entry_point_and_a_health_check(image: dict) -> None:  # type: ignore[type-arg]
    config = image["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["switchyard"]
    assert image["Healthcheck"]["Test"][0] == "CMD"  # podman reports it beside Config
    assert {"4000/tcp", "4318/tcp", "8050/tcp"} <= set(config["ExposedPorts"])
    assert "/var/lib/switchyard" in config["Volumes"]


def test_the_final_stage_holds_no_sources_and_no_build_tools(image: dict) -> None:  # type: ignore[type-arg]
    root = Path(_run(["podman", "image", "mount", IMAGE]).strip())
    try:
        assert (root / "opt" / "switchyard" / "bin" / "switchyard").exists()
        assert not (root / "src").exists(), "the build stage's source tree leaked into the image"
        assert not any((root / "usr" / "bin" / tool).exists() for tool in ("gcc", "cc", "make", "git"))
    finally:
        subprocess.run(["podman", "image", "unmount", IMAGE], capture_output=True)


def test_the_proxy_answers_healthz_on_a_read_only_root_and_the_healthcheck_passes(
        image: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    config = image["Config"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.chown(data, 10001, 10001)
    script = tmp_path / "sandbox.sh"
    script.write_text(SANDBOX)
    root = _run(["podman", "image", "mount", IMAGE]).strip()
    env = [*config["Env"], "SWITCHYARD_UPSTREAM_API_KEY=sk-ant-image-test",
           f"SWITCHYARD_HEALTHCHECK_URL=http://127.0.0.1:{port}/healthz"]
    sandbox = ["unshare", "--mount", "--fork", "sh", str(script), root, str(data), *env]
    log = (tmp_path / "proxy.log").open("wb")
    proxy = subprocess.Popen([*sandbox, *config["Entrypoint"], "proxy", "--host", "127.0.0.1", "--port", str(port)],
                             env={**os.environ, "USERSPEC": config["User"]}, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proxy.poll() is None, (tmp_path / "proxy.log").read_text()[-3000:]
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the proxy did not answer within 60 s"
                time.sleep(0.5)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        # the image's own HEALTHCHECK, run the same way
        check = subprocess.run([*sandbox, *image["Healthcheck"]["Test"][1:]], capture_output=True, text=True,
                               env={**os.environ, "USERSPEC": config["User"]}, timeout=30)
        assert check.returncode == 0, check.stderr
        # writing outside the volume fails: the root really is read-only
        write = subprocess.run([*sandbox, "/usr/bin/touch", "/opt/switchyard/x"], capture_output=True, text=True,
                               env={**os.environ, "USERSPEC": config["User"]}, timeout=30)
        assert write.returncode != 0 and "Read-only file system" in write.stderr
    finally:
        os.killpg(proxy.pid, signal.SIGTERM)  # its own process group: unshare, and the proxy under it
        proxy.wait(timeout=30)
        log.close()
        subprocess.run(["podman", "image", "unmount", IMAGE], capture_output=True)
