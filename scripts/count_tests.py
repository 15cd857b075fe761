#!/usr/bin/env python3
"""Counts one runtime's test results from its JUnit report (scripts/test.sh).

Usage: count_tests.py RUNTIME JUNIT_XML ALLOWLIST
Prints "passed failed skipped allowed" on the last line of stdout, after one
line per skipped test ("skip: NAME — REASON" or "skip: NAME — NOT ON THE
ALLOW-LIST"), so test.sh can show them and fail the run on an unexpected one.

What is counted: every leaf test once. describe() groups are not tests; nor
is a test that only holds t.test() subtests (the suite has none: Bun does
not run t.test() subtests, so they would make the runtimes incomparable).

How each runtime reports (why the XML is read differently per runtime):
- node (--test-reporter=junit): a <testcase> per test, a <testsuite> per
  describe() group (and per test with subtests). Leaves = testcases.
- bun (--reporter=junit): the same shape. Leaves = testcases.
- deno (--junit-path): groups are <testcase>s too, their tests are steps
  named "Group > test" (nested: "A > B > test"). A testcase is a group when
  another testcase's name starts with its name + " > ". Leaves = the rest;
  a failed group with no failed test inside (a hook failed) is one failure.
  (A top-level test in one file named exactly like a describe() group in
  another would be taken for a group: keep names unique.)
With the same files the three counts are equal unless a test is declared
only on some runtimes (the summary shows any difference).

Skips: a <skipped> child (node: skip option, test.skip, t.skip, todo; bun:
the same; deno: "ignored", i.e. the skip option or test.skip). Deno runs
t.skip() as a no-op and reports the test as passed, so t.skip() is banned
from the suite (test.sh greps for it); use the `skip` option with a reason.
"""
import sys
import xml.etree.ElementTree as ET


def load_allowlist(path):
    """Lines "RUNTIMES | TEST NAME | REASON"; RUNTIMES is "*" or e.g. "node,bun"."""
    entries = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(" | ")]
            if len(parts) != 3 or not all(parts):
                sys.exit(f"{path}:{n}: expected 'RUNTIMES | TEST NAME | REASON', got: {line}")
            runtimes = {r.strip() for r in parts[0].split(",")}
            entries.append((runtimes, parts[1], parts[2]))
    return entries


def allowed(entries, runtime, name):
    for runtimes, test, reason in entries:
        if ("*" in runtimes or runtime in runtimes) and (name == test or name.endswith(" > " + test)):
            return reason
    return None


def main():
    runtime, report, allowlist = sys.argv[1:4]
    entries = load_allowlist(allowlist)
    try:
        root = ET.parse(report).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"no readable JUnit report from {runtime}: {e}")
        print("0 1 0 0")
        return
    cases = list(root.iter("testcase"))
    if runtime == "deno":
        names = [c.get("name", "") for c in cases]
        prefixes = set()
        for name in names:
            parts = name.split(" > ")
            for i in range(1, len(parts)):
                prefixes.add(" > ".join(parts[:i]))
        failing = lambda c: c.find("failure") is not None or c.find("error") is not None
        groups = [c for c in cases if c.get("name", "") in prefixes]
        cases = [c for c in cases if c.get("name", "") not in prefixes]
        # A group that failed with no failing test inside: a before/after hook failed. Count it once.
        hook_failures = sum(
            1 for g in groups if failing(g) and not any(
                failing(c) and c.get("name", "").startswith(g.get("name", "") + " > ") for c in cases))
    else:
        hook_failures = 0
    passed = skipped = ok_skips = 0
    failed = hook_failures
    for c in cases:
        name = c.get("name", "")
        if c.find("failure") is not None or c.find("error") is not None:
            failed += 1
        elif c.find("skipped") is not None:
            skipped += 1
            reason = allowed(entries, runtime, name)
            if reason:
                ok_skips += 1
                print(f"skip: {name} — allowed: {reason}")
            else:
                print(f"skip: {name} — NOT ON THE ALLOW-LIST (tests/skip_allowlist.txt)")
        else:
            passed += 1
    print(f"{passed} {failed} {skipped} {ok_skips}")


main()
