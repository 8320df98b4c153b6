"""A child that floods stderr: writes N bytes of 1 KiB NDJSON-free text lines, then exits 0."""

import sys

LINE = b"x" * 1023 + b"\n"
BLOCK = LINE * 64  # 64 KiB per write


def main() -> None:
    remaining = int(sys.argv[1])
    out = sys.stderr.buffer
    while remaining > 0:
        chunk = BLOCK if remaining >= len(BLOCK) else BLOCK[:remaining]
        out.write(chunk)
        remaining -= len(chunk)
    out.flush()


if __name__ == "__main__":
    main()
