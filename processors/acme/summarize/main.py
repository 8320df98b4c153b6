"""acme/summarize@1: a provider-backed summary; ``mock`` never imports the vendor SDK."""

from runtime.kit import Context, serve


def handle(ctx: Context) -> None:
    """Summarise ``inputs.text``: real calls the provider with the declared secret."""
    text = ctx.require("text", str)
    max_words = ctx.inputs.get("max_words", 30)
    if ctx.mode == "real":
        import provider  # the vendor call lives there and imports its SDK lazily

        api_key = ctx.secret("ACME_API_KEY")
        ctx.log("provider.call", provider="openai", chars=len(text))
        summary = provider.summarize(text, api_key=api_key, max_words=max_words)
        ctx.log("provider.response", chars=len(summary))
    else:
        ctx.log("provider.call", provider="mock", chars=len(text))
        summary = " ".join(text.split()[:max_words])
        ctx.log("provider.response", provider="mock", chars=len(summary))
    ctx.write_json("summary.json", {"summary": summary, "max_words": max_words})


if __name__ == "__main__":
    raise SystemExit(serve(handle))
