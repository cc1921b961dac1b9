#!/usr/bin/env python3
"""Joins callgrind dumps (one per bench row, see bench/common.c) to the bench's
JSON lines: adds "instructions_per_item" and prints both side by side."""
import glob, json, os, sys

cgdir, jsonl = sys.argv[1], sys.argv[2]
instr = {}
for f in glob.glob(os.path.join(cgdir, "bench_*")):
    label, total = None, None
    with open(f) as fh:
        for line in fh:
            if line.startswith("desc: Trigger: Client Request: IOVIRT_BENCH "):
                label = line.split("IOVIRT_BENCH ", 1)[1].split()
            elif line.startswith("totals:") or (total is None and line.startswith("summary:")):
                total = int(line.split()[1])
    if not label or total is None:
        continue
    bench, op, impl, items, parts = label[0], label[1], label[2], int(label[3]), int(label[4])
    if parts and items:
        instr[(bench, op, impl)] = total / (items * parts)

rows = []
with open(jsonl) as fh:
    for line in fh:
        r = json.loads(line)
        k = (r["bench"], r["op"], r["impl"])
        if k in instr:
            r["instructions_per_item"] = round(instr[k], 2)
        rows.append(r)
with open(jsonl, "w") as fh:
    for r in rows:
        fh.write(json.dumps(r, separators=(",", ":")) + "\n")
print("\n%-10s %-34s %-8s %12s %14s" % ("bench", "op", "impl", "ns/item", "instr/item"))
for r in rows:
    i = r.get("instructions_per_item")
    if "ns_per_item" not in r:  # a ratio line (bench_report_ratio)
        print("%-10s %-34s %-8s %12s %14s  ratio %.2f" % (r["bench"], r["op"], r["impl"], "-", "-", r.get("ratio", 0)))
        continue
    print("%-10s %-34s %-8s %12.2f %14s" % (r["bench"], r["op"], r["impl"], r["ns_per_item"],
                                            "%.1f" % i if i is not None else "-"))
