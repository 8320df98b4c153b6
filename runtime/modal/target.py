"""One Modal target: which app of which processor, in which env and Modal environment.

Every Modal operation (deploy, status, logs, destroy, drift, the adapter's lookup) addresses an app
by the same five values — ref, env, branch, user and the Modal environment. They travel together
as one :class:`ModalTarget`, so the computed names, the dev fallback and the lookup drill are
derived in one place and an operation cannot pass four of the five.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from runtime.errors import InputsError
from runtime.modal.naming import dev_fallback_used, modal_app_name_from_ref, modal_function_name


@dataclass(frozen=True)
class ModalTarget:
    """``ref`` (``ns/name@version``; ``None`` only for whole-registry scopes such as drift),
    ``env`` (dev, staging, main), the dev app's ``branch``/``user`` and the Modal environment
    (``None``: the same name as ``env``)."""

    ref: str | None
    env: str = "dev"
    branch: str | None = None
    user: str | None = None
    modal_environment: str | None = None

    def __post_init__(self) -> None:
        from runtime.guards import check_env

        check_env(self.env)
        # Empty strings (an unset CLI flag) mean "not given": one spelling of absence.
        for field in ("ref", "branch", "user", "modal_environment"):
            if getattr(self, field) == "":
                object.__setattr__(self, field, None)

    @classmethod
    def from_flags(cls, *, ref: str = "", env: str = "dev", branch: str = "", user: str = "",
                   modal_environment: str = "") -> ModalTarget:
        """The target of a task's ``--ref/--env/--branch/--user/--modal-environment`` flags."""
        return cls(ref or None, env, branch or None, user or None, modal_environment or None)

    def with_ref(self, ref: str) -> ModalTarget:
        """The same env/branch/user/Modal environment, for one ref of a whole-registry scope."""
        return replace(self, ref=ref)

    @property
    def processor_ref(self) -> str:
        """The ref, required: ``ERR_INPUTS`` when this target names no processor."""
        if not self.ref:
            raise InputsError("--ref is required (e.g. --ref demo/echo@1)")
        return self.ref

    @property
    def app_name(self) -> str:
        """The app name deploy and run both compute (SPEC §8, :mod:`runtime.modal.naming`)."""
        return modal_app_name_from_ref(self.processor_ref, self.env, self.branch, self.user)

    @property
    def function_name(self) -> str:
        """The function's name inside the app."""
        return modal_function_name(self.processor_ref)

    @property
    def environment(self) -> str:
        """The Modal environment the operation talks to (the env's name unless overridden)."""
        return self.modal_environment or self.env

    @property
    def dev_fallback(self) -> bool:
        """env=dev without branch and user: the canonical name is used (callers warn)."""
        return dev_fallback_used(self.env, self.branch, self.user)

    def deploy_flags(self) -> str:
        """The ``inv deploy-modal`` flags that deploy exactly this target's app."""
        flags = f"--ref {self.processor_ref} --env {self.env}"
        if self.branch and self.user:
            flags += f" --branch {self.branch} --user {self.user}"
        if self.modal_environment and self.modal_environment != self.env:
            flags += f" --modal-environment {self.modal_environment}"
        return flags
