"""The Dockerfiles in deploy/docker, checked structurally (no registry is reachable here to build them):
multi-stage, every base image pinned to a version (never `latest`, never untagged) with a digest note,
a numeric non-root USER, a HEALTHCHECK, torch pinned to constraints.txt's version, and the control
plane's entrypoint and default role. The build context's .dockerignore keeps secrets and builds out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
FILES = sorted(DOCKER.glob("*.Dockerfile"))


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def base_images(path: Path) -> list[str]:
    ins = instructions(path)
    args = dict(a.split("=", 1) for w, a in ins if w == "ARG" and "=" in a)
    stages = {a.split()[-1] for w, a in ins if w == "FROM" and " AS " in a.upper()}
    images = []
    for w, a in ins:
        if w == "FROM":
            ref = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], a.split()[0])
            if ref not in stages:
                images.append(ref)
    return images


def test_the_three_images_exist():
    assert {f.name for f in FILES} == {"control-plane.Dockerfile", "runtime-cpu.Dockerfile", "runtime-cuda.Dockerfile"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_base_images_are_pinned(path):
    images = base_images(path)
    assert len([w for w, _ in instructions(path) if w == "FROM"]) >= 2, (
        "multi-stage: build tools stay out of the final image"
    )
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag and tag not in ("latest", ""), image
        assert re.search(r"\d", tag), f"{image}: pin a version, not a moving name"
        assert f"# digest: {image}@sha256:" in path.read_text(), f"{image}: say where its digest goes"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_runs_as_a_numeric_non_root_user_with_a_healthcheck(path):
    ins = instructions(path)
    final = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM") :]
    users = [a for w, a in final if w == "USER"]
    assert users, "the final stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric, so Kubernetes' runAsNonRoot can check it"
    assert any(w == "HEALTHCHECK" for w, _ in final)


@pytest.mark.parametrize("path", [p for p in FILES if p.name.startswith("runtime")], ids=lambda p: p.name)
def test_the_runtime_pins_torch_to_the_locked_version(path):
    locked = re.search(r"^torch==([\w.]+?)(\+\w+)?$", (ROOT / "constraints.txt").read_text(), re.M)
    assert locked, "constraints.txt pins torch"
    pins = re.findall(r"torch==([\w.]+)\+(\w+)", path.read_text())
    assert pins and all(v == locked.group(1) for v, _ in pins), pins
    assert ("cu" in pins[0][1]) == ("cuda" in path.name)
    if "cuda" in path.name:
        assert all(i.startswith("docker.io/nvidia/cuda:") for i in base_images(path))


def test_the_control_plane_chooses_its_role_by_command():
    ins = dict(instructions(DOCKER / "control-plane.Dockerfile"))  # the last of each instruction wins
    assert ins["ENTRYPOINT"] == '["axops"]' and ins["CMD"] == '["up", "--no-worker"]'
    assert "AXOPS_WEB_DIST=/opt/axops/web" in ins["ENV"] and "AXOPS_HOST=0.0.0.0" in ins["ENV"]


def test_dockerignore_keeps_local_state_out():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"}
    assert {".git", ".venv", ".axops", "web/node_modules", "web/dist"} <= ignored


def test_the_installed_package_has_every_data_file(tmp_path):
    """The images install axops as a wheel, not editable: every non-Python file under src/axops
    (migrations, report templates, the demo corpus) must be in it, or the image fails at run time."""
    import shutil
    import subprocess
    import sys
    import zipfile

    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            ".",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("axops-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    src = ROOT / "src"
    data = {
        p.relative_to(src).as_posix()
        for p in src.joinpath("axops").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    assert data and not data - packaged, sorted(data - packaged)
