"""The files an owner builds from agree with each other: the lock pins every dependency the
project declares, and the image installs from that lock."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_pins_every_declared_dependency_with_hashes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {
        canonical(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]
    }
    lock = (REPO / "requirements.lock").read_text()
    pinned = {canonical(name) for name in re.findall(r"^([A-Za-z0-9_.\-]+)==", lock, re.M)}
    assert declared <= pinned, declared - pinned
    entries = re.findall(
        r"^[A-Za-z0-9_.\-]+==\S+ \\\n((?:\s+--hash=sha256:\w+ ?\\?\n?)+)", lock, re.M
    )
    assert len(entries) == len(pinned)  # every pin carries its hashes
    assert "file://" not in lock and "--find-links" not in lock


def test_the_image_installs_from_the_lock_and_checks_readiness() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install --require-hashes --no-deps -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    # The probe reads HTTP_PORT like the bot (tests/e2e/test_first_hour.py runs it).
    assert 'CMD ["python", "-m", "bot", "health"]' in dockerfile
    assert "USER hailuo" in dockerfile and "EXPOSE 8080" in dockerfile


def test_compose_names_the_service_bot_and_publishes_the_configured_port() -> None:
    compose = (REPO / "compose.yaml").read_text()
    assert re.search(r"^services:\n  bot:\n", compose, re.M)  # docker compose exec bot …
    assert "hailuo-data:/data" in compose and "env_file: .env" in compose
    assert '"127.0.0.1:${HTTP_PORT:-8080}:${HTTP_PORT:-8080}"' in compose
