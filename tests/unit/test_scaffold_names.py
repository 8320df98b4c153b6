import pytest

from runtime.authoring.scaffold import default_secret, parse_new_name
from runtime.errors import InputsError


def test_new_name_becomes_version_one():
    assert str(parse_new_name("acme/translate")) == "acme/translate@1"


@pytest.mark.parametrize("bad", ["Acme/translate", "acme", "acme/trans late", "../x/y", "acme/-x"])
def test_invalid_new_names_are_err_inputs(bad):
    with pytest.raises(InputsError, match="invalid ref"):
        parse_new_name(bad)


def test_a_new_processor_cannot_start_at_another_version():
    with pytest.raises(InputsError, match="starts at version 1"):
        parse_new_name("acme/translate@2")


def test_default_secret_is_upper_snake_case_of_the_key():
    assert default_secret(parse_new_name("acme/ask-it")) == "ACME_ASK_IT_API_KEY"
