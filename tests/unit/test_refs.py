import pytest

from runtime.errors import InputsError
from runtime.registry.refs import ProcessorRef, parse_ref


def test_parse_ref_round_trips_canonical_text():
    ref = parse_ref("demo/echo@1")
    assert ref == ProcessorRef("demo", "echo", "1")
    assert str(ref) == "demo/echo@1"
    assert ref.key == "demo/echo"


@pytest.mark.parametrize("text", ["demo/echo", "demo@1", "Demo/echo@1", "demo/echo@v1",
                                  "../x/y@1", "demo/echo@1 extra", "", "a/b@1.2.3.4"])
def test_parse_ref_rejects_malformed_refs_with_err_inputs(text):
    with pytest.raises(InputsError, match="ERR_INPUTS"):
        parse_ref(text)


def test_parse_ref_rejects_non_strings():
    with pytest.raises(InputsError, match="must be a string"):
        parse_ref(42)
