"""The processor-side kit: standard library only, so an image needs nothing but Python.

A processor's ``main.py`` stays a few lines::

    from runtime.kit import Context, serve

    def handle(ctx: Context) -> None:
        ctx.write_text("echo.txt", ctx.inputs["text"])

    if __name__ == "__main__":
        serve(handle)

The kit parses the payload from stdin, writes outputs atomically under the write prefix, writes the
index and the determinism receipt, logs NDJSON to stderr and prints the one envelope line.
"""


TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the kit and the container entry skip typing
if TYPE_CHECKING:
    from runtime.kit.context import Context, KitError, serve
    from runtime.kit.hashing import canonical_json, sha256_hex

# Loaded on first use (PEP 562): the host imports runtime.kit.message/files/hashing on every run
# and never needs the processor-side Context (nor the `platform` module it fingerprints with).
_EXPORTS = {"Context": "runtime.kit.context", "KitError": "runtime.kit.context",
            "serve": "runtime.kit.context", "canonical_json": "runtime.kit.hashing",
            "sha256_hex": "runtime.kit.hashing"}

__all__ = ["Context", "KitError", "canonical_json", "serve", "sha256_hex"]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime.kit' has no attribute {name!r}")
    import importlib  # here, not at the top: the container entry never needs it

    return getattr(importlib.import_module(module), name)
