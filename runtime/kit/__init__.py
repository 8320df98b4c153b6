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

from runtime.kit.context import Context, KitError, serve
from runtime.kit.hashing import canonical_json, sha256_hex

__all__ = ["Context", "KitError", "canonical_json", "serve", "sha256_hex"]
