import json

import pytest

from tests.helpers import run_cli
from tests.modal_support import OVERRIDE, PLANTED, fake_env, pinned_project, start_fake_modal

pytestmark = pytest.mark.modal


@pytest.fixture
def world(tmp_path):
    root = pinned_project(tmp_path / "project")
    server = start_fake_modal(tmp_path / "fake-modal", root, secrets=())
    yield {"root": root, "server": server, "fake": server.state, "env": fake_env(server, root),
           "art": str(tmp_path / "art")}
    server.close()


def _deploy(world, ref="demo/echo@1", *extra):
    result = run_cli("deploy-modal", "--ref", ref, "--env", "dev", "--image-override", OVERRIDE,
                     "--json", *extra, env=world["env"])
    assert result.rc == 0, result.stderr
    return result


def _run(world, *extra):
    return run_cli("run-processor", "--ref", "demo/echo@1", "--adapter", "modal", "--json",
                   "--artifacts-root", world["art"], *extra, env=world["env"])


def test_deploy_then_modal_run_succeeds_with_one_stdout_line(world):
    deployed = _deploy(world).envelope
    result = _run(world)
    assert result.rc == 0, result.stderr
    assert result.envelope["status"] == "success"
    assert result.envelope["meta"]["app"] == deployed["app"]
    assert result.envelope["meta"]["modal_server"] == world["server"].url


def test_cli_deploy_and_run_log_the_same_names_for_branch_and_user(world):
    deployed = _deploy(world, "demo/echo@1", "--branch", "feat-1", "--user", "bo")
    ran = _run(world, "--branch", "feat-1", "--user", "bo")
    deploy_names = [(e["app"], e["function"]) for e in deployed.events
                    if e["event"] == "modal.deploy.start"]
    run_names = [(e["app"], e["function"]) for e in ran.events
                 if e["event"] == "adapter.invoke.start"]
    assert deploy_names == run_names == [("feat-1-bo-demo-echo-v1", "run_demo_echo_v1")]


def test_lookup_failure_is_err_modal_lookup_with_names_and_environment(world):
    result = _run(world)
    assert result.rc == 20
    error = result.envelope["error"]
    assert error["code"] == "ERR_MODAL_LOOKUP"
    assert "'demo-echo-v1'" in error["message"]
    assert "'run_demo_echo_v1'" in error["message"]
    assert "Modal environment 'dev'" in error["message"]


def test_invocation_failure_is_err_modal_invocation(world):
    _deploy(world)
    world["fake"].plan_fault("call", "RemoteError", times=1)
    result = _run(world)
    assert result.rc == 21
    assert result.envelope["error"]["code"] == "ERR_MODAL_INVOCATION"


def test_timeout_is_retried_once_then_err_modal_timeout(world):
    _deploy(world)
    world["fake"].plan_fault("call", "FunctionTimeoutError", times=5)
    result = _run(world)
    assert result.rc == 22
    envelope = result.envelope
    assert envelope["error"]["code"] == "ERR_MODAL_TIMEOUT"
    assert envelope["error"]["retryable"] is True
    assert envelope["meta"]["attempts"] == 2
    assert isinstance(envelope["meta"]["elapsed_ms"], int)
    assert sum(c["op"] == "call_function" for c in world["fake"].calls()) == 2


def test_staging_deploy_refuses_an_override(world):
    result = run_cli("deploy-modal", "--ref", "demo/echo@1", "--env", "staging",
                     "--image-override", OVERRIDE, "--json", env=world["env"])
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"


def test_main_deploy_of_an_unpinned_ref_is_err_image_unpinned(world, tmp_path):
    env = fake_env(world["server"], None)
    result = run_cli("deploy-modal", "--ref", "demo/echo@1", "--env", "main", "--json", env=env)
    assert result.rc == 10
    assert result.envelope["error"]["code"] == "ERR_IMAGE_UNPINNED"


def test_dev_deploy_without_branch_and_user_warns_about_the_fallback(world):
    result = _deploy(world)
    assert any(e["event"] == "modal.naming.dev_fallback" for e in result.events)


def test_sync_secrets_lists_every_missing_name_at_once(world):
    result = run_cli("sync-modal-secrets", "--env", "staging", "--fail-on-missing", "--json",
                     env=world["env"])
    assert result.rc == 3
    message = result.envelope["error"]["message"]
    assert "ACME_API_KEY" in message
    assert "ACME_ORG_ID" in message
    assert not [c for c in world["fake"].calls() if c["op"].endswith("_secret")]


def test_sync_secrets_logs_presence_as_true_or_false_never_a_value(world):
    env = dict(world["env"], ACME_API_KEY=PLANTED)
    result = run_cli("sync-modal-secrets", "--env", "staging", "--json", env=env)
    [presence] = [e for e in result.events if e["event"] == "modal.secrets.presence"]
    assert presence["present"] == {"ACME_API_KEY": True, "ACME_ORG_ID": False}
    assert PLANTED not in result.stderr


def test_sync_secrets_refuses_dev(world):
    result = run_cli("sync-modal-secrets", "--env", "dev", "--json", env=world["env"])
    assert result.rc == 2


def test_planted_secret_appears_only_in_the_secret_payload(world):
    env = dict(world["env"], ACME_API_KEY=PLANTED, ACME_ORG_ID=PLANTED + "-org")
    synced = run_cli("sync-modal-secrets", "--env", "staging", "--fail-on-missing", "--json",
                     env=env)
    resynced = run_cli("sync-modal-secrets", "--env", "staging", "--json", env=env)
    deployed = run_cli("deploy-modal", "--ref", "acme/summarize@1", "--env", "staging", "--json",
                       env=env)
    ran = run_cli("run-processor", "--ref", "acme/summarize@1", "--adapter", "modal", "--env",
                  "staging", "--json", "--artifacts-root", world["art"],
                  "--inputs-json", json.dumps({"text": "a b c"}), env=env)
    for result in (synced, resynced, deployed, ran):
        assert result.rc == 0, result.stderr
        assert PLANTED not in result.stdout
        assert PLANTED not in result.stderr
    actions = [row["action"] for row in resynced.envelope["secrets"]]
    assert actions == ["updated", "updated"]
    carrying = [r for r in world["server"].asked if PLANTED in json.dumps(r)]
    assert {r["rpc"] for r in carrying} == {"SecretGetOrCreate", "SecretUpdate"}
    assert all(PLANTED not in json.dumps({k: v for k, v in r.items() if k != "values"})
               for r in carrying)
    assert not [c for c in world["fake"].calls() if PLANTED in json.dumps(c)]


def test_status_logs_and_destroy_go_through_the_boundary(world):
    _deploy(world)
    assert _run(world).rc == 0
    status = run_cli("status-modal", "--ref", "demo/echo@1", "--json", env=world["env"])
    logs = run_cli("logs-modal", "--ref", "demo/echo@1", "--json", env=world["env"])
    destroyed = run_cli("destroy-modal", "--ref", "demo/echo@1", "--json", env=world["env"])
    after = run_cli("status-modal", "--ref", "demo/echo@1", "--json", env=world["env"])
    assert status.envelope["state"] == "deployed"
    assert any("processor.start" in e["message"] for e in logs.envelope["entries"])
    assert destroyed.envelope["status"] == "stopped"
    assert after.rc == 20
    assert after.envelope["error"]["code"] == "ERR_MODAL_LOOKUP"


@pytest.mark.parametrize("wrong", ["MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"])
def test_a_wrong_token_is_refused_by_the_server_and_reported_as_err_modal_lookup(world, wrong):
    # The fake checks credentials as Modal does: a wrong token id or secret is UNAUTHENTICATED
    # on the first call (the lookup), which the SDK raises as AuthError -> ERR_MODAL_LOOKUP.
    _deploy(world)
    planted = "as-wrong-" + PLANTED if wrong == "MODAL_TOKEN_SECRET" else "ak-wrong-token-id"
    env = fake_env(world["server"], world["root"], **{wrong: planted})
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--adapter", "modal", "--json",
                     "--artifacts-root", world["art"], env=env)
    assert result.rc == 20, result.stderr
    error = result.envelope["error"]
    assert error["code"] == "ERR_MODAL_LOOKUP"
    assert "AuthError" in error["message"]
    assert "credentials" in error["message"]
    assert world["server"].rpcs[-1] == "FunctionGet"  # refused there: nothing was invoked
    assert "FunctionMap" not in world["server"].rpcs
    if wrong == "MODAL_TOKEN_SECRET":
        assert PLANTED not in result.stdout + result.stderr
