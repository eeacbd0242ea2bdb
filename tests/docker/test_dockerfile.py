"""The production image (docker/Dockerfile) and its build-context filter, read as text.

No Docker engine is needed; no test here touches the database.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DOCKER_DIR = Path(__file__).resolve().parents[2] / "docker"
SECRET_NAMES = ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "POSTGRES_PASSWORD")
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|make|[\w.+]+-dev)\b")

Instruction = tuple[str, str]


def _instructions(text: str) -> list[Instruction]:
    """(KEYWORD, arguments) per instruction: comments dropped, continuation lines joined."""
    instructions, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return _instructions((DOCKER_DIR / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def stages(instructions) -> list[list[Instruction]]:
    """Instructions per build stage, each starting with its FROM."""
    found: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


@pytest.fixture(scope="module")
def final_stage(stages) -> list[Instruction]:
    return stages[-1]


def _arguments(stage: list[Instruction], keyword: str) -> list[str]:
    return [arguments for name, arguments in stage if name == keyword]


def _base_image(instructions: list[Instruction], from_arguments: str) -> str:
    """The image a FROM names, with the global ARG defaults substituted."""
    defaults = {}
    for keyword, arguments in instructions:
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in arguments:
            name, value = arguments.split("=", 1)
            defaults[name] = value
    image = from_arguments.split()[0]
    return re.sub(r"\$\{(\w+)\}", lambda match: defaults[match[1]], image)


def test_image_builds_in_separate_stages(instructions, stages):
    assert len(stages) >= 3
    names = [stage[0][1].split()[-1] for stage in stages[:-1]]
    assert {"widget", "python-build"} <= set(names)
    assert _base_image(instructions, stages[0][0][1]).startswith("node:20")
    assert _base_image(instructions, stages[-1][0][1]) == "python:3.12-slim-bookworm"


def test_final_stage_runs_as_an_unprivileged_user(final_stage):
    users = _arguments(final_stage, "USER")
    assert users, "the final stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user in {"app", "10001"}


def test_final_stage_installs_no_build_tools(final_stage):
    for command in _arguments(final_stage, "RUN"):
        assert not BUILD_TOOLS.search(command), command


def test_build_stage_has_the_compilers_the_final_stage_lacks(stages):
    build_stage = next(stage for stage in stages if stage[0][1].endswith("python-build"))
    commands = " ".join(_arguments(build_stage, "RUN"))
    assert "uv sync --frozen --no-dev" in commands
    assert {"gcc", "libldap2-dev", "libsasl2-dev"} <= set(BUILD_TOOLS.findall(commands))


def test_final_stage_has_the_ldap_runtime_libraries(final_stage):
    commands = " ".join(_arguments(final_stage, "RUN"))
    assert "libldap-2.5-0" in commands
    assert "libsasl2-2" in commands


def test_final_stage_healthcheck_probes_healthz_without_curl(final_stage):
    healthchecks = _arguments(final_stage, "HEALTHCHECK")
    assert len(healthchecks) == 1
    assert "/healthz" in healthchecks[0]
    assert "CMD" in healthchecks[0]
    assert "curl" not in healthchecks[0]
    assert (DOCKER_DIR / "healthcheck.py").is_file()


def test_final_stage_python_environment(final_stage):
    env = " ".join(_arguments(final_stage, "ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in env


def test_default_command_serves_the_asgi_app_with_daphne(final_stage):
    command = json.loads(_arguments(final_stage, "CMD")[-1])
    all_interfaces = "0.0.0.0"  # noqa: S104 - inside the container; compose publishes it
    assert command == ["daphne", "-b", all_interfaces, "-p", "8000", "config.asgi:application"]
    assert "8000" in _arguments(final_stage, "EXPOSE")


def test_the_embedding_model_is_built_into_the_image_and_used(stages, final_stage):
    """Workers embed with ONNX Runtime from a file built (and verified) at image build time,
    outside the mounted var/ volume; without it they would fall back to PyTorch."""
    build_stage = next(stage for stage in stages if stage[0][1].endswith("python-build"))
    builds = [run for run in _arguments(build_stage, "RUN") if "embedder_build" in run]
    assert len(builds) == 1
    output = builds[0].split("--output", 1)[1].split()[0]
    assert output.startswith("/app/models/") and output.endswith(".onnx")
    copies = " ".join(_arguments(final_stage, "COPY"))
    assert "--from=python-build /app/models /app/models" in copies
    env = " ".join(_arguments(final_stage, "ENV"))
    assert f"KNOWLEDGE_LOCAL_EMBEDDER_ONNX={output}" in env


def test_static_files_are_collected_at_build_time(final_stage):
    runs = [run for run in _arguments(final_stage, "RUN") if "collectstatic --noinput" in run]
    assert len(runs) == 1
    assert "config.settings.production" in (DOCKER_DIR / "Dockerfile").read_text()


def test_no_secret_is_baked_into_the_image(instructions):
    for keyword, arguments in instructions:
        if keyword in {"ENV", "ARG", "LABEL"}:
            for secret in SECRET_NAMES:
                assert not re.search(rf"\b{secret}\b", arguments), f"{keyword} {arguments}"


# --- Build-context filter ----------------------------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over slash-separated paths from the context root."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


@pytest.fixture(scope="module")
def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception, pattern) in file order; BuildKit reads <Dockerfile>.dockerignore."""
    rules = []
    for line in (DOCKER_DIR / "Dockerfile.dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            exception = line.startswith("!")
            rules.append((exception, _pattern(line.lstrip("!").strip("/"))))
    return rules


def _excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """The last rule matching the path or one of its parent directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for exception, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not exception
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.local",
        "docker/.env",
        ".git/config",
        ".venv/bin/python",
        "var/pgdata/PG_VERSION",
        "var/local.env",
        "widget/node_modules/esbuild/package.json",
        "apps/core/__pycache__/views.cpython-312.pyc",
        "tests/docker/test_compose.py",
        "static/widget.js",
    ],
)
def test_build_context_leaves_out_secrets_state_and_artifacts(ignore_rules, path):
    assert _excluded(path, ignore_rules)


@pytest.mark.parametrize(
    "path",
    [
        "manage.py",
        "config/settings/production.py",
        "apps/core/views.py",
        "templates/base.html",
        "widget/src/index.js",
        "docker/healthcheck.py",
        ".env.example",
    ],
)
def test_build_context_keeps_what_the_image_runs(ignore_rules, path):
    assert not _excluded(path, ignore_rules)


def test_every_file_the_dockerfile_copies_is_in_the_build_context(instructions, ignore_rules):
    for keyword, arguments in instructions:
        if keyword != "COPY" or "--from=" in arguments:
            continue
        sources = [part for part in arguments.split() if not part.startswith("--")][:-1]
        for source in sources:
            if source != ".":
                assert not _excluded(source.rstrip("/"), ignore_rules), source
