"""The vendor call for acme/summarize; the SDK is imported only when this runs (real mode)."""

from __future__ import annotations


def summarize(text: str, *, api_key: str, max_words: int = 30) -> str:
    """Ask the provider for a summary of at most ``max_words`` words."""
    from openai import OpenAI  # lazy: mock mode and the host never import the vendor SDK

    client = OpenAI(api_key=api_key, timeout=30.0)
    response = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": f"Summarise in at most {max_words} words."},
            {"role": "user", "content": text},
        ],
    )
    return (response.choices[0].message.content or "").strip()
