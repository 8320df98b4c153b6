"""The scrubbed child environment: plumbing keys only, plus declared secrets in ``real`` mode."""

from __future__ import annotations

import os

from runtime.errors import MissingSecretError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the container entry imports this module
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

# Keys a Python child needs to run predictably; nothing here may carry a credential.
PLUMBING_KEYS = (
    "PATH",
    "PYTHONPATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "HOME",
    "CI",
    "TEST_LANE",
    "SOURCE_DATE_EPOCH",
)
FIXED = {
    "PYTHONHASHSEED": "0",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "LOG_STREAM": "stderr",
}


CI_OFF = ("0", "false", "no", "off")


def ci_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """True when the process runs in CI: ``CI`` set to anything but empty or ``0``/``false``/
    ``no``/``off`` (any case). CI runners spell it ``true``, ``True``, ``1`` or their own name;
    guessing wrong would let ``mode=real`` or ambient secrets through, so unknown means CI."""
    value = (os.environ if environ is None else environ).get("CI", "").strip().lower()
    return value not in ("", *CI_OFF)


def ambient_secrets_allowed(env: str, parent: Mapping[str, str]) -> bool:
    """Ambient variables pass only with ``ALLOW_ENV_SECRETS=1`` **and** ``env == dev``, and
    never under CI (a CI job holds the pipeline's secrets in its environment)."""
    return env == "dev" and parent.get("ALLOW_ENV_SECRETS") == "1" and not ci_enabled(parent)


def missing_secrets(names: Iterable[str], parent: Mapping[str, str]) -> list[str]:
    """Declared secret names that are unset or empty in ``parent`` (presence-only check)."""
    return [name for name in names if not parent.get(name)]


def build_child_env(
    *,
    mode: str,
    env: str,
    secrets: Iterable[str] = (),
    parent: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return the environment for a processor child.

    ``real`` mode adds the processor's declared secrets and raises ``ERR_MISSING_SECRET`` listing
    every one that is missing. ``mock`` never receives a secret.
    """
    source = os.environ if parent is None else parent
    declared = list(secrets)
    if ambient_secrets_allowed(env, source):
        child = dict(source)
    else:
        child = {key: source[key] for key in PLUMBING_KEYS if key in source}
        child.setdefault("PATH", os.defpath)
    if mode == "real" and declared:
        missing = missing_secrets(declared, source)
        if missing:
            raise MissingSecretError(
                f"missing required secret(s) for real mode: {', '.join(missing)} "
                "(set them in the environment; names come from the registry)"
            )
        child.update({name: source[name] for name in declared})
    else:
        # Even with ambient secrets allowed, a mock run never holds the provider's key.
        for name in declared:
            child.pop(name, None)
    child.update(FIXED)
    if extra:
        child.update(extra)
    return child
