"""Fuzzing the registry loader: random YAML gives ``ERR_INPUTS`` naming the field, never another
exception; a document that loads resolves its refs or refuses them with ``ERR_INPUTS``."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.errors import InputsError
from runtime.registry.load import Registry, validate_document

SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
ANY = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()),
                                                 inner, max_size=3)), max_leaves=12)
# Documents near the real schema, each field either plausible or random.
VERSION = st.fixed_dictionaries({}, optional={
    "entrypoint": st.one_of(st.sampled_from(["main.py", "sub/main.py", "/etc/passwd",
                                             "../main.py", "a\x00.py", "", "./main.py"]), ANY),
    "timeout_s": st.one_of(st.floats(min_value=0.1, max_value=100), ANY),
    "memory_mb": st.one_of(st.integers(64, 1024), ANY),
    "secrets": st.one_of(st.lists(st.from_regex(r"\A[A-Z][A-Z0-9_]{0,8}\Z"), max_size=2), ANY),
    "image": st.one_of(st.fixed_dictionaries({}, optional={"repository": ANY, "digest": ANY}),
                       ANY),
    "input_schema": ANY, "unknown": ANY})
ENTRY = st.fixed_dictionaries({}, optional={
    "path": st.one_of(st.sampled_from(["processors/demo/echo", "a\x00b", "", "/abs"]),
                      st.text(max_size=20), ANY),
    "versions": st.one_of(st.dictionaries(st.sampled_from(["1", "2", "x", 1]), VERSION,
                                          max_size=2), ANY)})
KEY = st.one_of(st.sampled_from(["demo/echo", "a/b", "Bad Key", ""]), st.text(max_size=10))
DOCUMENT = st.one_of(ANY, st.fixed_dictionaries({}, optional={
    "schema_version": st.one_of(st.just(1), ANY),
    "base_image": st.one_of(st.fixed_dictionaries({}, optional={"repository": ANY,
                                                                "digest": ANY}), ANY),
    "processors": st.one_of(st.dictionaries(KEY, ENTRY, max_size=3), ANY),
    "extra": ANY}))


def _load(raw: bytes):
    try:
        return validate_document(raw, "registry.yaml")
    except InputsError as exc:  # the only refusal allowed; anything else fails the test
        message = exc.message
    assert message.startswith("registry.yaml: ")
    detail = message[len("registry.yaml: "):]
    # A validation error names the field path (or <root>); a parse error says so.
    assert detail.startswith("not valid YAML") or ": " in detail, message
    return None


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT)
def test_random_documents_load_or_name_the_field(document):
    _load(yaml.safe_dump(document, allow_unicode=True).encode("utf-8", "surrogatepass"))


@given(st.binary(max_size=300))
def test_random_bytes_load_or_give_inputs_error(data):
    _load(data)


@given(st.text(alphabet=":-[]{}!&*#|>'\"%@`, \n\tab1", max_size=80))
def test_yaml_punctuation_soup_loads_or_gives_inputs_error(text):
    _load(text.encode())


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(document=DOCUMENT)
def test_a_loaded_registry_resolves_or_refuses_each_ref(document, tmp_path_factory):
    loaded = _load(yaml.safe_dump(document).encode())
    if loaded is None:
        return
    root = Path(tmp_path_factory.mktemp("reg"))
    registry = Registry(root, loaded, root / "registry" / "processors.yaml")
    for key, entry in loaded.processors.items():
        for version in entry.versions:
            try:
                registry.resolve(f"{key}@{version}")
            except InputsError:  # the only refusal allowed
                continue


HOSTILE = st.one_of(st.sampled_from(["main.py", "sub/main.py", "/etc/passwd", "../main.py",
                                     "a\x00.py", "", ".", "a//b.py", "a/../../b.py"]),
                    st.text(alphabet="a/.\x00", max_size=10))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=HOSTILE, entrypoint=HOSTILE)
def test_entry_path_and_entrypoint_resolve_inside_the_folder_or_give_inputs_error(
        path, entrypoint, tmp_path_factory):
    document = {"processors": {"a/b": {"path": path, "versions": {"1": {
        "entrypoint": entrypoint}}}}}
    loaded = _load(yaml.safe_dump(document).encode())
    if loaded is None:
        return
    root = Path(tmp_path_factory.mktemp("reg"))
    (root / "sub").mkdir()
    (root / "main.py").write_text("")
    (root / "sub" / "main.py").write_text("")
    registry = Registry(root, loaded, root / "registry" / "processors.yaml")
    try:
        resolved = registry.resolve("a/b@1")
    except InputsError:
        return
    assert resolved.directory in resolved.entrypoint.resolve().parents
