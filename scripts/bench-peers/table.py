#!/usr/bin/env python3
"""Render scripts/bench-peers.sh results (results.tsv, leaks.txt) as a Markdown table + verdicts.

Calls/s counts right answers only (call.lua's `ok`) over wrk's measured duration. The best peer
of a scenario is the peer (any target not named ours-*) with the most calls/s and no wrong
answer; a target with wrong answers is flagged and not ranked.
"""

import sys

OURS_LABEL = {
    "ours-rest": "ours, REST `/services/fx/call`",
    "ours-mcp-sse": "ours, MCP `/services/fx/mcp`, SSE answers",
    "ours-mcp-json": "ours, MCP `/services/fx/mcp`, JSON-only client",
    "supergateway": "supergateway 4.0.0 `--stateful` (MCP)",
    "mcp-proxy": "mcp-proxy 0.13.0 (MCP)",
    "mcpo": "mcpo 0.0.20 (OpenAPI REST)",
    "upstream": "upstream SignalWire 1.1.0 (REST)",
    "contextforge": "ContextForge 1.0.7 `mcpgateway.translate` (MCP)",
    "contextforge-gw": "ContextForge 1.0.7 gateway `/servers/{id}/mcp` → the bridge (MCP)",
}


def parse(path):
    rows = {}
    order = []
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        name, model, scenario = parts[0], parts[1], parts[2]
        kv = {}
        for item in (parts[3] if len(parts) > 3 else "").split(" "):
            if "=" in item:
                k, v = item.split("=", 1)
                kv[k] = v
        if name not in order:
            order.append(name)
        rec = {"model": model, "failed": "requests" not in kv}
        if not rec["failed"]:
            secs = int(kv["duration_us"]) / 1e6
            rec.update(
                calls=int(kv["ok"]) / secs, p50=int(kv["p50_us"]) / 1000,
                p99=int(kv["p99_us"]) / 1000, wrong=int(kv["wrong"]),
                sock=int(kv["sock_errors"]), sse=int(kv["sse"]), json=int(kv["json"]),
                requests=int(kv["requests"]), first_wrong=kv.get("first_wrong", "-"),
                tcpu=float(kv.get("target_cpu_s", "nan")), wcpu=float(kv.get("wrk_cpu_s", "nan")),
                secs=secs, sessions=int(kv.get("sessions", "0")))
        rows[(name, scenario)] = rec
    return order, rows


def main():
    order, rows = parse(sys.argv[1])
    leaks = {}
    if len(sys.argv) > 2:
        for line in open(sys.argv[2]):
            if "\t" in line:
                name, text = line.rstrip("\n").split("\t", 1)
                leaks[name] = text
    scenarios = ["1x8", "8"]

    def best_of(sc, mcp_sessions_only=False):
        cands = [(r["calls"], n) for (n, s), r in rows.items()
                 if s == sc and not n.startswith("ours") and not r["failed"] and r["wrong"] == 0
                 and (not mcp_sessions_only or r["sessions"] > 0 and n != "upstream")]
        return max(cands) if cands else (None, None)

    best = {sc: best_of(sc) for sc in scenarios}
    best_sessions = {sc: best_of(sc, True) for sc in scenarios}

    def cell(name, sc):
        r = rows.get((name, sc))
        if r is None:
            return "—", "—"
        if r["failed"]:
            return "failed", "—"
        flag = " ⚠ WRONG" if r["wrong"] else ""
        txt = f"{r['calls']:,.0f}{flag} · {r['p50']:.2f} / {r['p99']:.2f} ms"
        b = best[sc][0]
        ratio = "—" if not b or r["wrong"] else f"{r['calls'] / b:.2f}×"
        return txt, ratio

    def cpu(name, sc):
        r = rows.get((name, sc))
        if not r or r["failed"] or not r["requests"]:
            return "—"
        busy = (r["tcpu"] + r["wcpu"]) / r["secs"] * 100
        return (f"{r['tcpu'] / r['requests'] * 1e6:.0f} / {r['wcpu'] / r['requests'] * 1e6:.0f} "
                f"({busy:.0f} %)")

    print("| target | child model | 1 session × 8 conns: calls/s · p50 / p99 | vs best peer "
          "| 8 sessions × 8 conns: calls/s · p50 / p99 | vs best peer | wrong answers "
          "| answers SSE / JSON | CPU µs per call, target / wrk (CPU busy, of 200 %), 1 session |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in order:
        c1, r1 = cell(name, "1x8")
        c8, r8 = cell(name, "8")
        recs = [rows.get((name, s)) for s in scenarios]
        recs = [r for r in recs if r and not r["failed"]]
        wrong = sum(r["wrong"] for r in recs)
        sse = sum(r["sse"] for r in recs)
        js = sum(r["json"] for r in recs)
        model = rows.get((name, "1x8"), rows.get((name, "8")))["model"]
        wrong_txt = f"**{wrong}** ({recs[0]['first_wrong'][:60]})" if wrong else "0"
        print(f"| {OURS_LABEL.get(name, name)} | {model} | {c1} | {r1} | {c8} | {r8} "
              f"| {wrong_txt} | {'SSE' if sse and not js else 'JSON' if js and not sse else f'{sse} / {js}'} "
              f"| {cpu(name, '1x8')} |")
    print()
    for sc in scenarios:
        b, n = best[sc]
        label = "1 session × 8 conns" if sc == "1x8" else "8 sessions"
        print(f"- best peer, {label}: {n} ({b:,.0f} calls/s)" if b else f"- best peer, {label}: none")

    def ratio(a, b, sc):
        ra, rb = rows.get((a, sc)), rows.get((b, sc))
        if not ra or not rb or ra["failed"] or rb["failed"] or not rb["calls"]:
            return None
        return ra["calls"] / rb["calls"]

    print()
    print("Targets of issue 12:")
    for sc in scenarios:
        label = "1 session" if sc == "1x8" else "8 sessions"
        b, n = best[sc]
        r = rows.get(("ours-mcp-sse", sc))
        if r and not r["failed"] and b:
            x = r["calls"] / b
            print(f"- MCP front door (SSE answers) ≥ 5× best peer ({n}), {label}: "
                  f"{x:.2f}× → {'met' if x >= 5 and r['wrong'] == 0 else 'MISSED'}")
            bs, ns = best_sessions[sc]
            if bs and ns != n:
                x = r["calls"] / bs
                print(f"  - against the best peer that keeps MCP sessions ({ns}): {x:.2f}× → "
                      f"{'met' if x >= 5 and r['wrong'] == 0 else 'MISSED'}")
        x = ratio("ours-rest", "upstream", sc)
        if x is not None:
            print(f"- REST ≥ 15× upstream, {label}: {x:.1f}× → {'met' if x >= 15 else 'MISSED'}")
    if leaks:
        print()
        print("State across sessions (fixture `count`, a per-process counter; client A counts "
              "twice, then client B once):")
        for name, text in leaks.items():
            print(f"- {name}: {text}")


if __name__ == "__main__":
    main()
