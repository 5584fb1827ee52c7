#!/usr/bin/env python3
"""Fails when a doctest test case can pass without testing anything:
- an assertion that cannot fail: CHECK(true), REQUIRE(true), CHECK_FALSE(false), CHECK(1), ...;
- a TEST_CASE body with no assertion macro at all (CHECK*, REQUIRE*, FAIL*);
- a test case that returns early on a named constant (`if (kFeature) return;`): when the constant
  is true in every build, the test never runs. Skips depend on the machine instead (root, a tool)
  and print "skipped: REASON", which ctest reports as skipped.
Prints file:line for each."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent
ALWAYS = re.compile(r"\b(?:CHECK|REQUIRE|WARN)(?:_MESSAGE)?\s*\(\s*(?:true|1)\s*[,)]"
                    r"|\b(?:CHECK|REQUIRE|WARN)_FALSE\s*\(\s*(?:false|0)\s*\)")
CASE = re.compile(r'\bTEST_CASE(?:_FIXTURE)?\s*\((?:\s*\w+\s*,)?\s*((?:"(?:[^"\\]|\\.)*"\s*)+)'
                  r'[^{;]*\{')
ASSERTION = re.compile(r"\b(?:CHECK|REQUIRE|FAIL)\w*\s*\(")
CONSTANT_RETURN = re.compile(r"^\s*if\s*\(\s*!?\s*(?:[\w:]+::)?k[A-Z]\w*\s*\)\s*return\b", re.M)


def body_at(text, start):
    """The text of the block whose '{' is at text[start - 1], up to its matching '}'."""
    depth, i = 1, start
    while depth and i < len(text):
        c = text[i]
        if c == '"' or c == "'":  # skip literals: a brace inside a string is not a block
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    return text[start:i]


bad = []
cases = 0
for path in sorted(root.rglob("*.cpp")):
    text = path.read_text(errors="replace")
    rel = path.relative_to(root)
    line_of = lambda pos: text.count("\n", 0, pos) + 1  # noqa: E731
    for m in ALWAYS.finditer(text):
        bad.append(f"{rel}:{line_of(m.start())}: an assertion that cannot fail: {m.group(0)}")
    for m in CASE.finditer(text):
        cases += 1
        body = body_at(text, m.end())
        name = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
        if not ASSERTION.search(body):
            bad.append(f"{rel}:{line_of(m.start())}: no assertion in \"{name}\"")
        c = CONSTANT_RETURN.search(body)
        if c:
            bad.append(f"{rel}:{line_of(m.end() + c.start())}: \"{name}\" returns early on a "
                       f"constant: {c.group(0).strip()}")
for b in bad:
    print(b)
if cases == 0:
    print("no TEST_CASE found: the pattern is broken")
    sys.exit(1)
sys.exit(1 if bad else 0)
