"""processor-runtime: run processors through one execution surface.

The public surface is imported lazily (PEP 562) so that ``import runtime.kit`` inside a processor
or a container stays standard-library only, and ``import runtime`` never imports an SDK.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: processors and the container entry skip typing

__version__ = "0.1.0"

_EXPORTS = {
    "run_processor": "runtime.runner",
    "run_batch": "runtime.batch",
    "parse_inputs_json": "runtime.runner",
    "Envelope": "runtime.contract.wire",
    "Payload": "runtime.contract.wire",
    "Receipt": "runtime.contract.wire",
    "ProcessorRef": "runtime.registry.refs",
    "parse_ref": "runtime.registry.refs",
    "modal_app_name_from_ref": "runtime.modal.naming",
    "ProcessorRuntimeError": "runtime.errors",
    "error_envelope": "runtime.contract.envelope",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from typing import Any

    from runtime.batch import run_batch
    from runtime.contract.envelope import error_envelope
    from runtime.contract.wire import Envelope, Payload, Receipt
    from runtime.errors import ProcessorRuntimeError
    from runtime.modal.naming import modal_app_name_from_ref
    from runtime.registry.refs import ProcessorRef, parse_ref
    from runtime.runner import parse_inputs_json, run_processor


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    import importlib  # here, not at the top: the container entry never needs it

    return getattr(importlib.import_module(module), name)
