"""Shared set-up for the Modal tests: a pinned copy of the project and the one fake Modal server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from runtime.testing.fake_server import FakeModalServer
from tests.helpers import BUNDLED_REFS, cli_env, copy_project

DIGEST = "sha256:" + "ab" * 32
OVERRIDE = "sha256:" + "cd" * 32
# Staging/main deploy what Modal can pull: a remote-looking registry (never resolved: the fake
# Modal never pulls) and a verification record, as `inv pin-processor` writes one.
REPOSITORY = "registry.example.invalid/processors/{ns}-{name}"
VERIFIED = {"verified_at": "2026-01-01T00:00:00Z",
            "verified_by": "test stand-in (the fake Modal never pulls; no registry was asked)"}
PLANTED = "planted-Secret-Value-7f3a9c"
REFS = BUNDLED_REFS
SECRETS = ("ACME_API_KEY", "ACME_ORG_ID")


def pinned_project(target: Path, *, extra_secret: str | None = "ACME_ORG_ID") -> Path:
    """Copy the bundled processors and their registry entries into ``target`` with every version
    pinned (and, by default, a second secret on acme/summarize so 'every missing name' has more
    than one name). Only the bundled ones: what else the working tree registers (and the secrets
    it declares) must not change what the secrets-sync tests expect."""
    copy_project(target)
    document = yaml.safe_load((target / "registry" / "processors.yaml").read_text())
    for key, entry in document["processors"].items():
        ns, name = key.split("/")
        for version in entry["versions"].values():
            version["image"] = {"repository": REPOSITORY.format(ns=ns, name=name), "digest": DIGEST,
                                **VERIFIED}
    if extra_secret:
        document["processors"]["acme/summarize"]["versions"]["1"]["secrets"].append(extra_secret)
    (target / "registry" / "processors.yaml").write_text(yaml.safe_dump(document))
    return target


def fake_env(server: FakeModalServer, root: Path | None = None,
             **overrides: str | None) -> dict[str, str]:
    """A CLI environment whose modal SDK talks to ``server`` (the SDK's own settings)."""
    values: dict[str, str | None] = dict(server.environ())
    if root is not None:
        values["PROCESSOR_RUNTIME_ROOT"] = str(root)
    values.update(overrides)
    return cli_env(**values)


PARITY_INPUTS = {"demo/echo@1": {"message": "same bytes"}, "text/stats@1": {"top_n": 3},
                 "acme/summarize@1": {"text": "One. Two three. Four five six.", "max_words": 4}}


def start_fake_modal(state_dir: Path, source_root: Path,
                     secrets: tuple[str, ...] = SECRETS) -> FakeModalServer:
    """A started fake server whose dev environment holds ``secrets`` (as a real workspace
    would); the caller closes it."""
    server = FakeModalServer(state_dir, source_root=source_root).start()
    for name in secrets:
        server.state.create_secret(name, {name: "unused-in-mock"}, environment_name="dev")
    return server


def fake_modal_project(tmp_path: Path, monkeypatch: Any,
                       request: Any) -> tuple[Path, FakeModalServer]:
    """A pinned project and a started fake server this process's SDK talks to (closed when the
    test ends); returns ``(root, server)``."""
    root = pinned_project(tmp_path / "project")
    server = start_fake_modal(tmp_path / "fake-modal", root)
    request.addfinalizer(server.close)
    for key, value in server.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PROCESSOR_RUNTIME_ROOT", str(root))
    return root, server
