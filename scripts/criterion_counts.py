#!/usr/bin/env python3
"""Prints 'PASSED FAILED' summed over the Criterion executables in a meson testlog.json.

Each Criterion executable ends with a line
  [====] Synthesis: Tested: N | Passing: N | Failing: N | Crashing: N
An executable without it (it crashed before reporting) counts as one failure."""
import json
import re
import sys

SYN = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
passed = failed = 0
with open(sys.argv[1]) as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        text = (rec.get("stdout") or "") + (rec.get("stderr") or "")
        m = None
        for m in SYN.finditer(text):
            pass
        if m:
            passed += int(m.group(2))
            failed += int(m.group(3)) + int(m.group(4))
        else:
            failed += 1
        if rec.get("result") not in ("OK", "EXPECTEDFAIL") and m and int(m.group(3)) + int(m.group(4)) == 0:
            failed += 1
print(passed, failed)
