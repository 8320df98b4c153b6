"""Dev flows as tasks, on the one fake Modal server: deploy a developer's dev app, smoke it, one
real run with CI unset; real is refused under CI=true before anything is contacted."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli
from tests.modal_support import OVERRIDE, fake_env, pinned_project, start_fake_modal

pytestmark = pytest.mark.modal

DEV = ("--branch", "feat-x", "--user", "ana")


@pytest.fixture
def world(tmp_path):
    root = pinned_project(tmp_path / "project")
    server = start_fake_modal(tmp_path / "fake-modal", root, secrets=())
    yield {"root": root, "server": server, "fake": server.state, "env": fake_env(server, root)}
    server.close()


def _deploy_dev(world):
    result = run_cli("deploy-modal", "--ref", "demo/echo@1", "--env", "dev", "--image-override",
                     OVERRIDE, *DEV, "--json", env=world["env"])
    assert result.rc == 0, result.stderr
    assert result.envelope["app"] == "feat-x-ana-demo-echo-v1"


def test_real_modal_dev_is_refused_under_ci_before_any_modal_call(world):
    env = {**world["env"], "CI": "true"}
    result = run_cli("real-modal-dev", "--ref", "demo/echo@1", *DEV, "--json", env=env)
    assert result.rc == 4
    assert result.envelope["error"]["code"] == "ERR_CI_SAFETY"
    assert world["server"].rpcs == []  # the SDK never reached the server
    assert world["fake"].calls() == []


def test_real_modal_dev_runs_once_in_real_mode_on_the_dev_app_with_ci_unset(world):
    _deploy_dev(world)
    env = {key: value for key, value in world["env"].items() if key != "CI"}
    result = run_cli("real-modal-dev", "--ref", "demo/echo@1", *DEV, "--inputs-json",
                     '{"message": "hello"}', "--json", env=env)
    assert result.rc == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    envelope = result.envelope
    assert envelope["status"] == "success"
    assert envelope["meta"]["mode"] == "real"
    assert envelope["meta"]["app"] == "feat-x-ana-demo-echo-v1"
    assert [c["op"] for c in world["fake"].calls()].count("call_function") == 1


def test_real_modal_dev_without_a_ref_is_err_inputs(world):
    result = run_cli("real-modal-dev", "--json", env=world["env"])
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"


def test_smoke_modal_dev_smokes_the_dev_app(world):
    _deploy_dev(world)
    result = run_cli("smoke-modal-dev", "--ref", "demo/echo@1", *DEV, env=world["env"],
                     timeout=300)
    assert result.rc == 0, result.stdout + result.stderr
    looked_up = {c["app"] for c in world["fake"].calls() if c["op"] == "lookup_function"}
    assert looked_up == {"feat-x-ana-demo-echo-v1"}


def test_smoke_modal_dev_of_an_undeployed_dev_app_fails(world):
    result = run_cli("smoke-modal-dev", "--ref", "demo/echo@1", "--branch", "nobody",
                     "--user", "here", env=world["env"], timeout=300)
    assert result.rc != 0


def test_smoke_modal_dev_without_a_ref_is_err_inputs(world):
    result = run_cli("smoke-modal-dev", env=world["env"])
    assert result.rc == 2
    assert "ERR_INPUTS" in result.stderr
