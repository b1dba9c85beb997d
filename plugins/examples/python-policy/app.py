"""Example tollgate policy written in Python: the same rules as the Rust `image-policy` example.

Artifacts must come from an allowed registry, may not use a mutable version such as
`latest`, and (optionally) must be pinned by a sha256 digest.

This module is turned into a WebAssembly component by componentize-py against
`wit/policy.wit` (world `tollgate:policy/policy@0.1.0`); see `build.sh`. The `wit_world`
package it imports is the binding code componentize-py generates at build time.

Configuration (JSON, from the policy's `config:` in tollgate.yaml)::

    {
      "allowed_registries": ["registry.example.com/shop/"],  # required, at least one prefix
      "require_digest": true,                                # optional, default false
      "forbidden_versions": ["latest"]                       # optional, default ["latest"]
    }

Unknown fields are errors, like `#[serde(deny_unknown_fields)]` in the Rust SDK, and every
configuration error names the field at fault (`config.allowed_registries: ...`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import (
    Artifact,
    Decision,
    Finding,
    PluginInfo,
    Transition,
    Verdict,
)

NAME = "python-policy"
VERSION = "0.1.0"
DESCRIPTION = (
    "Artifacts come from an allowed registry, use an immutable version, "
    "and are pinned by digest when required (Python example)"
)

# `sha256:` followed by exactly 64 lower-case hex digits.
SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class ConfigError(Exception):
    """A configuration problem; the message starts with the offending field."""


@dataclass(frozen=True)
class Config:
    """The policy's configuration, checked field by field."""

    # Image prefixes that may be deployed, e.g. `registry.example.com/shop/`.
    allowed_registries: list[str]
    # Deny artifacts without a `sha256:` digest.
    require_digest: bool = False
    # Versions that are mutable tags and never allowed.
    forbidden_versions: list[str] = field(default_factory=lambda: ["latest"])

    FIELDS = ("allowed_registries", "require_digest", "forbidden_versions")

    @classmethod
    def parse(cls, text: str) -> Config:
        """Parse and validate the JSON configuration, or raise `ConfigError`."""
        try:
            raw = json.loads(text)
        except ValueError as error:
            raise ConfigError(f"config: not valid JSON ({error})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"config: invalid type: {describe(raw)}, expected an object")
        for name in raw:
            if name not in cls.FIELDS:
                expected = ", ".join(f"`{known}`" for known in cls.FIELDS)
                raise ConfigError(f"config: unknown field `{name}`, expected one of {expected}")
        if "allowed_registries" not in raw:
            raise ConfigError("config: missing field `allowed_registries`")

        allowed = string_list(raw, "allowed_registries")
        if not allowed:
            raise ConfigError(
                "config.allowed_registries: list at least one image prefix, e.g. registry.example.com/"
            )
        require_digest = raw.get("require_digest", False)
        if not isinstance(require_digest, bool):
            raise ConfigError(
                f"config.require_digest: invalid type: {describe(require_digest)}, expected a boolean"
            )
        forbidden = string_list(raw, "forbidden_versions") if "forbidden_versions" in raw else ["latest"]
        return cls(allowed_registries=allowed, require_digest=require_digest, forbidden_versions=forbidden)


def string_list(raw: dict[str, Any], name: str) -> list[str]:
    """`raw[name]` as a list of strings, or a `ConfigError` naming the field (and index)."""
    value = raw[name]
    if not isinstance(value, list):
        raise ConfigError(f"config.{name}: invalid type: {describe(value)}, expected a list of strings")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigError(f"config.{name}[{index}]: invalid type: {describe(item)}, expected a string")
    return value


def describe(value: Any) -> str:
    """A JSON value's kind in the words serde uses, e.g. `string "x/"`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, (int, float)):
        return f"number `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    if isinstance(value, list):
        return "a list"
    return "an object"


def check(config: Config, transition: Transition) -> list[str]:
    """The policy itself: one sentence per rule the transition breaks."""
    artifact: Artifact = transition.artifact
    findings: list[str] = []
    if not any(artifact.image.startswith(prefix) for prefix in config.allowed_registries):
        findings.append(
            f"{artifact.image} is not from an allowed registry "
            f"(allowed: {', '.join(config.allowed_registries)})"
        )
    if artifact.version in config.forbidden_versions:
        findings.append(f"version {artifact.version} is a mutable tag; promote an immutable version")
    if artifact.digest is None:
        if config.require_digest:
            findings.append(
                f"{artifact.image}:{artifact.version} is not pinned by digest; "
                f"{transition.to_env} requires a sha256 digest"
            )
    elif not SHA256_DIGEST.fullmatch(artifact.digest):
        findings.append(f"digest {json.dumps(artifact.digest)} is not of the form sha256:<64 hex digits>")
    return findings


class Plugin(exports.Plugin):
    """The `tollgate:policy/plugin` export. componentize-py finds it by this class name.

    Errors are returned to the host by raising `Err(message)`; the host fails closed on them.
    """

    def info(self) -> PluginInfo:
        return PluginInfo(name=NAME, version=VERSION, description=DESCRIPTION, capabilities=[])

    def validate_config(self, config: str) -> None:
        try:
            Config.parse(config)
        except ConfigError as error:
            raise Err(str(error)) from None

    def evaluate(self, config: str, transition: Transition) -> Verdict:
        try:
            parsed = Config.parse(config)
        except ConfigError as error:
            raise Err(str(error)) from None
        messages = check(parsed, transition)
        decision = Decision.DENY if messages else Decision.ALLOW
        # One line in the decision report, through the host's `log` import.
        artifact = transition.artifact
        count = f"{len(messages)} finding{'' if len(messages) == 1 else 's'}" if messages else "no findings"
        host.log(
            host.LogLevel.INFO,
            f"checked {artifact.image}:{artifact.version} for {transition.to_env}: {decision.name.lower()}, {count}",
        )
        return Verdict(decision=decision, findings=[Finding(message=m, path=None) for m in messages])
