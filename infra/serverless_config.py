"""Reads serverless.yml into plain dataclasses for the local stack and the deploy script.

Only PyYAML is needed (present in .venv; also in the system Python on these machines).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"

_VAR = re.compile(r"\$\{([^}]+)\}")


@dataclass
class Schedule:
    name: str
    rate: str
    time_zone: str = "Etc/UTC"
    method: str = "POST"
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    token_secret: str | None = None  # env var name of the secret sent as X-Jobs-Token


@dataclass
class Function:
    name: str
    source: str  # path relative to the repo root
    target: str
    trigger: str  # "http" or "event"
    memory_mb: int = 256
    timeout: str = "60s"
    max_instances: int | None = None
    allow_unauthenticated: bool = False
    event_type: str | None = None
    event_resource: str | None = None  # bucket name for storage events
    requirements: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    schedules: list[Schedule] = field(default_factory=list)

    @property
    def signature_type(self) -> str:
        return "cloudevent" if self.trigger == "event" else "http"

    def source_path(self, root: Path | str = REPO_ROOT) -> Path:
        return Path(root) / self.source


@dataclass
class Config:
    service: str
    runtime: str
    region: str
    project: str
    environment: dict[str, str]
    secrets: dict[str, str]  # env name -> secret id
    functions: dict[str, Function]
    queues: list[dict[str, Any]]
    firestore: dict[str, Any]
    raw: dict[str, Any]

    def functions_for_bucket_finalize(self, bucket: str) -> list[Function]:
        return [
            f
            for f in self.functions.values()
            if f.trigger == "event" and f.event_type == STORAGE_FINALIZED and f.event_resource == bucket
        ]


def _resolve(value: Any, env: Mapping[str, str], scope: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, env, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, env, scope) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        default: str | None = None
        if "," in expr:
            expr, default = (p.strip() for p in expr.split(",", 1))
            default = default.strip("'\"")
        if expr.startswith("env:"):
            name = expr[4:].strip()
            got = env.get(name)
        else:
            name = expr
            got = scope.get(name, env.get(name))
        if got is None or got == "":
            if default is None:
                raise KeyError(f"serverless.yml: variable ${{{m.group(1)}}} is not set and has no default")
            return default
        return str(got)

    return _VAR.sub(sub, value)


def load(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Parse serverless.yml. `env` (default os.environ) feeds ${env:...} and ${NAME} variables."""
    path = Path(path) if path else REPO_ROOT / "serverless.yml"
    env = dict(os.environ if env is None else env)
    raw = yaml.safe_load(path.read_text())
    provider = raw.get("provider", {})
    environment = {k: str(v) for k, v in _resolve(provider.get("environment", {}) or {}, env, {}).items()}
    scope = dict(environment)

    def r(v: Any) -> Any:
        return _resolve(v, env, scope)

    functions: dict[str, Function] = {}
    for name, spec in (raw.get("functions") or {}).items():
        spec = spec or {}
        fn = Function(
            name=name,
            source=spec.get("source", f"functions/{name}.py"),
            target=spec.get("target") or spec.get("handler") or name,
            trigger="http",
            memory_mb=int(spec.get("memorySize", 256)),
            timeout=str(spec.get("timeout", "60s")),
            max_instances=spec.get("maxInstances"),
            allow_unauthenticated=bool(spec.get("allowUnauthenticated", False)),
            requirements=list(spec.get("requirements") or []),
            include=list(spec.get("include") or []),
            secrets=list(spec.get("secrets") or []),
            environment={k: str(v) for k, v in r(spec.get("environment") or {}).items()},
        )
        # extras: {"VAR=value": {requirements, secrets}} added when the function's VAR has that value
        for condition, extra in (spec.get("extras") or {}).items():
            var, _, value = condition.partition("=")
            if {**environment, **fn.environment}.get(var.strip()) == value.strip():
                fn.requirements += [x for x in (extra or {}).get("requirements") or [] if x not in fn.requirements]
                fn.secrets += [x for x in (extra or {}).get("secrets") or [] if x not in fn.secrets]
        for ev in spec.get("events") or []:
            if "event" in ev:
                e = r(ev["event"])
                fn.trigger = "event"
                fn.event_type = e["eventType"]
                fn.event_resource = e.get("resource")
            elif "schedule" in ev:
                s = r(ev["schedule"])
                fn.schedules.append(
                    Schedule(
                        name=s.get("name", f"{name}-schedule"),
                        rate=s["rate"],
                        time_zone=s.get("timeZone", "Etc/UTC"),
                        method=s.get("method", "POST"),
                        body=s.get("body", ""),
                        headers=dict(s.get("headers") or {}),
                        token_secret=s.get("tokenSecret"),
                    )
                )
        functions[name] = fn

    custom = raw.get("custom") or {}
    return Config(
        service=raw.get("service", "service"),
        runtime=r(provider.get("runtime", "python311")),
        region=r(provider.get("region", "europe-west1")),
        project=r(provider.get("project", "")),
        environment=environment,
        secrets=dict(provider.get("secrets") or {}),
        functions=functions,
        queues=list((custom.get("tasks") or {}).get("queues") or []),
        firestore=dict(custom.get("firestore") or {}),
        raw=raw,
    )


def requirement_lines(names: list[str], requirements_txt: Path | str) -> list[str]:
    """Pick the lines of requirements.txt whose distribution name is in `names` (case/-_ insensitive)."""
    want = {_norm(n) for n in names}
    found: dict[str, str] = {}
    for line in Path(requirements_txt).read_text().splitlines():
        s = line.split("#", 1)[0].strip()
        if not s or s.startswith("-"):
            continue
        dist = _norm(re.split(r"[<>=!~\[;@ ]", s, 1)[0])
        if dist in want:
            found[dist] = s
    missing = want - set(found)
    if missing:
        raise KeyError(f"requirements not in {requirements_txt}: {sorted(missing)}")
    return [found[_norm(n)] for n in names]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
