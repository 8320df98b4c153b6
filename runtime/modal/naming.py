"""Modal app names computed from a ref: the one helper deploy and adapters both call."""

from __future__ import annotations

import hashlib
import json
import re

from runtime.registry.refs import ProcessorRef, parse_ref

MODAL_NAME_MAX = 64
_HASH_TAIL = 8
_DISALLOWED = re.compile(r"[^a-zA-Z0-9_.-]+")
_APP_ID_LIKE = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
ENVS = ("dev", "staging", "main")


def sanitize_modal_name(raw: str, limit: int = MODAL_NAME_MAX, *,
                        identity: str | None = None) -> str:
    """Map ``raw`` into Modal's object-name charset and length, with a hash tail when changed.

    The tail is a hash of ``identity`` (default: the *unsanitised* ``raw``), so two inputs that
    collide after sanitising or cutting still get distinct names. Callers that join several
    parts pass an unambiguous encoding of the parts as ``identity``.
    """
    cleaned = _clean(raw)
    changed = cleaned != raw
    if not changed and len(cleaned) <= limit and not _APP_ID_LIKE.fullmatch(cleaned):
        return cleaned
    source = raw if identity is None else identity
    tail = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_TAIL]
    head = cleaned[: limit - _HASH_TAIL - 1].rstrip("-.") or "x"
    return f"{head}-{tail}"


def _clean(raw: str) -> str:
    """``raw`` in Modal's charset: lower case, runs of other characters folded into one ``-``."""
    cleaned = _DISALLOWED.sub("-", raw.lower()).strip("-.") or "x"
    return re.sub(r"-{2,}", "-", cleaned)


def modal_app_name_from_ref(
    ref: ProcessorRef | str,
    env: str,
    branch: str | None = None,
    user: str | None = None,
) -> str:
    """Return the Modal app name for ``ref`` in ``env`` (SPEC §8).

    dev → ``<branch>-<user>-<ns>-<name>-v<ver>``; staging/main → ``<ns>-<name>-v<ver>``. In dev
    without branch or user the canonical name is returned; callers log that fallback (see
    :func:`dev_fallback_used`). Raises ``ERR_INPUTS`` for a bad ref; ``ValueError`` for an unknown env.
    """
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    if env not in ENVS:
        raise ValueError(f"env must be one of {ENVS}, got {env!r}")
    canonical = f"{parsed.ns}-{parsed.name}-v{parsed.version}"
    if env == "dev" and branch and user:
        # "a/b-c"+"d" and "a/b"+"c-d" join to the same text: hash the parts, not the join.
        identity = json.dumps([branch, user, canonical])
        name = sanitize_modal_name(f"{branch}-{user}-{canonical}", identity=identity)
        if name == f"{branch}-{user}-{canonical}" or _keeps(name, canonical):
            return name
        return _cut_prefix_first(f"{branch}-{user}", sanitize_modal_name(canonical), identity)
    return sanitize_modal_name(canonical)


def _keeps(name: str, canonical: str) -> bool:
    """Whether a cut name still ends in the (sanitised) canonical part, hash tail aside."""
    return name.rsplit("-", 1)[0].endswith(sanitize_modal_name(canonical))


def _cut_prefix_first(prefix: str, canonical: str, identity: str) -> str:
    """``<cut branch-user>-<hash>-<ns>-<name>-v<ver>``: an operator can still tell which processor
    an app runs, however long the branch; the hash covers the unsanitised parts."""
    tail = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_TAIL]
    room = MODAL_NAME_MAX - len(canonical) - _HASH_TAIL - 2
    if room < 1:  # the canonical part alone fills the name: it is cut as any over-long name
        return sanitize_modal_name(f"{prefix}-{canonical}", identity=identity)
    head = _clean(prefix)[:room].rstrip("-.") or "x"
    return f"{head}-{tail}-{canonical}"


def dev_fallback_used(env: str, branch: str | None, user: str | None) -> bool:
    """True when a dev name had to fall back to the canonical one (worth a warning)."""
    return env == "dev" and not (branch and user)


def modal_function_name(ref: ProcessorRef | str) -> str:
    """The function name inside the app: stable per ref, Modal-safe (no '.')."""
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    raw = f"run_{parsed.ns}_{parsed.name}_v{parsed.version}"
    return sanitize_modal_name(raw.replace("-", "_").replace(".", "_"))


MODAL_ARTIFACTS_VOLUME = "processor-runtime-artifacts"


def modal_volume_name() -> str:
    """The Modal Volume holding run artifacts; one per Modal environment (names are per env)."""
    return MODAL_ARTIFACTS_VOLUME
