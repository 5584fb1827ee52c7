#!/usr/bin/env python3
"""Fails when a doctest TEST_CASE name contains ';'. ctest splits discovered test names on ';', so
such a test would become two ctest entries that each match nothing and pass vacuously."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent
bad = []
for path in sorted(root.rglob("*.cpp")):
    text = path.read_text(errors="replace")
    for m in re.finditer(r'TEST_CASE\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)', text):
        name = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
        if ";" in name:
            line = text.count("\n", 0, m.start()) + 1
            bad.append(f"{path.relative_to(root)}:{line}: {name}")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
