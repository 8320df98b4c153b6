"""demo/echo@1: echoes its inputs back as files (mock and real both run offline)."""

from runtime.kit import Context, serve


def handle(ctx: Context) -> None:
    """Write the message and the full inputs; ``real`` also upper-cases the message."""
    message = ctx.inputs.get("message", "hello from demo/echo")
    if not isinstance(message, str):
        message = str(message)
    text = message.upper() if ctx.mode == "real" else message
    ctx.write_text("echo.txt", text + "\n")
    ctx.write_json("inputs.json", ctx.inputs)


if __name__ == "__main__":
    raise SystemExit(serve(handle))
