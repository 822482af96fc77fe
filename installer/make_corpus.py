#!/usr/bin/env python3
"""The real-English corpus of the SmolLM2 comparison, from Debian's `fortunes` package.

Reads the fortune databases in /usr/share/games/fortunes (one quotation, joke or definition per
record, records separated by a line holding only "%") and writes them as plain text in the form
Optiscope's text dataset path reads: one document per fortune, documents separated by a blank
line. Blank lines inside a fortune are dropped so a fortune stays one document; the ascii-art
database is left out (pictures, not English). Files are read in sorted order, so the output is
the same on every machine with the same package version.

Usage: make_corpus.py OUT_FILE [FORTUNES_DIR]
"""
import os
import sys

SKIP = {"ascii-art"}


def records(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    current = []
    for line in text.split("\n"):
        if line.strip() == "%":
            yield current
            current = []
        else:
            current.append(line.rstrip())
    yield current


def main():
    out = sys.argv[1]
    src = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/games/fortunes"
    names = sorted(n for n in os.listdir(src)
                   if not n.endswith((".dat", ".u8")) and n not in SKIP and os.path.isfile(os.path.join(src, n)))
    if not names:
        sys.exit(f"make_corpus: no fortune databases in {src} (apt-get install fortunes)")
    docs = []
    for name in names:
        for rec in records(os.path.join(src, name)):
            lines = [l for l in rec if l.strip()]
            if lines:
                docs.append("\n".join(lines))
    tmp = out + ".partial"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n\n".join(docs) + "\n")
    os.replace(tmp, out)
    print(f"make_corpus: {len(docs)} fortunes from {len(names)} databases, {os.path.getsize(out)} bytes -> {out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
