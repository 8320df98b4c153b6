"""text/stats@1: text statistics computed for real, offline (mock uses a built-in sample)."""

from stats import compute_stats

from runtime.kit import Context, serve

SAMPLE = (
    "The quick brown fox jumps over the lazy dog. The dog sleeps. "
    "A fox is quick; a dog is lazy!"
)


def handle(ctx: Context) -> None:
    """``real`` analyses ``inputs.text``; ``mock`` analyses a fixed sample (no input needed)."""
    top_n = ctx.inputs.get("top_n", 5)
    if not isinstance(top_n, int) or isinstance(top_n, bool) or not 1 <= top_n <= 100:
        raise_inputs("inputs.top_n: must be an integer between 1 and 100")
    text = ctx.require("text", str) if ctx.mode == "real" else SAMPLE
    ctx.log("processor.compute", chars=len(text))
    stats = compute_stats(text, top_n=top_n)
    ctx.write_json("stats.json", stats)
    lines = [f"{key}: {value}" for key, value in stats.items() if key != "top_words"]
    lines += [f"top word {word}: {count}" for word, count in stats["top_words"]]
    ctx.write_text("report.txt", "\n".join(lines) + "\n")


def raise_inputs(message: str) -> None:
    """Report a bad input as ERR_INPUTS."""
    from runtime.kit import KitError

    raise KitError("ERR_INPUTS", message)


if __name__ == "__main__":
    raise SystemExit(serve(handle))
