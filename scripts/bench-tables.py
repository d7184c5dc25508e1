#!/usr/bin/env python3
"""Render the Markdown tables of BENCHMARKS.md from `bench --json` output.

    target/release/bench --json run.json && scripts/bench-tables.py run.json
"""
import json
import sys


def us(v):
    return f"{v:.0f} µs" if v < 1000 else (f"{v / 1000:.2f} ms" if v < 1e6 else f"{v / 1e6:.2f} s")


def lat(d):
    return f"p50 {us(d['p50_us'])}, p99 {us(d['p99_us'])}"


def mib(b):
    return f"{b / 1048576:.1f}"


def main(path):
    d = json.load(open(path))
    out = []
    m = d["machine"]
    out.append(f"machine: {m['nproc']} vCPU {m['cpu']}, kernel {m['kernel']}, load at start {m['loadavg_at_start']}\n")
    if "latency" in d:
        L = d["latency"]
        out.append("| path | p50 | p99 | p99.9 |\n|---|---|---|---|")
        for name, key in [("direct stdio (floor)", "direct"), ("through the gateway", "gateway"),
                          ("`GET /health` (HTTP floor of this client)", "health")]:
            x = L[key]
            out.append(f"| {name} | {us(x['p50_us'])} | {us(x['p99_us'])} | {us(x['p999_us'])} |")
        a, b = L["added_us"], L["added_beyond_http_us"]
        out.append(f"| added by the gateway | {us(a['p50'])} | {us(a['p99'])} | {us(a['p999'])} |")
        out.append(f"| added beyond the HTTP floor | {us(b['p50'])} | {us(b['p99'])} | — |\n")
    if "throughput" in d:
        T = d["throughput"]
        out.append("| load | calls/s | p50 | p99 |\n|---|---|---|---|")
        out.append(f"| direct stdio, fixture, 1 client | {T['direct_fixture']:,.0f} | | |")
        out.append(f"| direct stdio, Python greeter, 1 client | {T['direct_python']:,.0f} | | |")
        rows = [("fixture, 1 client", "fixture_c1_one"), ("fixture, 8 clients, one session", "fixture_c8_one"),
                ("fixture, 8 clients, one session each", "fixture_c8_spread"),
                ("fixture, 64 clients, one session", "fixture_c64_one"),
                ("fixture, 64 clients, one session each", "fixture_c64_spread"),
                ("Python greeter, 1 client", "python_c1"), ("Python greeter, 8 clients, one session", "python_c8")]
        for name, key in rows:
            x = T[key]
            out.append(f"| {name} | {x['rate']:,.0f} | {us(x['latency']['p50_us'])} | {us(x['latency']['p99_us'])} |")
        out.append("")
    if "sessions" in d:
        S = d["sessions"]
        out.append("| child | in flight | bare | gateway, sandbox on | gateway, sandbox off |\n|---|---|---|---|---|")
        for child in ["fixture", "python"]:
            for c in [1, 8]:
                bare = S[f"{child}_bare_c{c}"]
                cells = [f"{bare['rate']:,.1f}/s, {lat(bare['latency'])}"]
                for sb in ["sandbox", "nosandbox"]:
                    x = S[f"{child}_{sb}_c{c}"]
                    cells.append(f"{x['rate']:,.1f}/s ({x['vs_bare'] * 100:.0f} %), {lat(x['latency'])}")
                out.append(f"| {child} | {c} | " + " | ".join(cells) + " |")
        out.append("")
        out.append("| child | from the warm pool |\n|---|---|")
        for child in ["fixture", "python"]:
            out.append(f"| {child} | {lat(S[f'{child}_pool'])} |")
        out.append("")
    if "memory" in d:
        M, V = d["memory"], d["live"]
        n = M["sessions"]
        out.append("| measure | result |\n|---|---|")
        out.append(f"| gateway RSS at 0 / {n // 10} / {n} idle sessions | {mib(M['rss0'])} / {mib(M['rss_tenth'])} / {mib(M['rss_n'])} MiB ({M['children']} children alive) |")
        out.append(f"| bytes per idle session | {M['bytes_per_session'] / 1024:.1f} KiB (0 → {n}), {M['bytes_per_session_tenth_to_n'] / 1024:.1f} KiB ({n // 10} → {n}) |")
        out.append(f"| `GET /services/fx/tools` | {lat(V['get_tools'])} |")
        out.append(f"| `GET /sessions` ({n} entries) | {lat(V['get_sessions'])} |")
        out.append(f"| warm call | {lat(V['warm_call'])} |")
        out.append(f"| `DELETE /sessions/{{id}}`, one at a time ({n // 10}) | {lat(V['delete_sequential'])} |")
        out.append(f"| `DELETE /sessions/{{id}}`, 32 in flight ({n - n // 10}) | {V['delete_concurrent_rate']:,.0f}/s, {lat(V['delete_concurrent'])} |")
        out.append(f"| children left after deleting all | {V['children_left']} |\n")
    if "churn" in d:
        C = d["churn"]
        out.append("| measure | result |\n|---|---|")
        out.append(f"| {C['sessions']:,} sessions ({C['expired']:,} left to expire) | {C['wall_s']:.1f} s, {C['sessions'] / C['wall_s']:.0f} sessions/s |")
        out.append(f"| children left / sessions listed after | {C['children_left']} / {C['sessions_listed']} |")
        out.append(f"| gateway RSS before / half-way / after | {mib(C['rss_before'])} / {mib(C['rss_half'])} / {mib(C['rss_after'])} MiB |\n")
    if "upstream" in d and "ours_warm_c1" in d["upstream"]:
        U = d["upstream"]
        out.append("| measure | upstream 1.1.0 | ours | ratio |\n|---|---|---|---|")
        for name, key in [("warm `greet`, 1 client", "warm_c1"), ("warm `greet`, 8 clients, one session", "warm_c8")]:
            u, o = U[f"upstream_{key}"], U[f"ours_{key}"]
            out.append(f"| {name} | {u['rate']:,.0f} calls/s, p50 {us(u['latency']['p50_us'])} | {o['rate']:,.0f} calls/s, p50 {us(o['latency']['p50_us'])} | {o['rate'] / u['rate']:.1f}× |")
        for name, key in [("new session, one at a time", "new_session"), ("`GET /services/py/tools`", "get_tools"),
                          ("`DELETE /sessions/{id}`, one at a time", "delete")]:
            u, o = U[f"upstream_{key}"], U[f"ours_{key}"]
            out.append(f"| {name} | p50 {us(u['p50_us'])} | p50 {us(o['p50_us'])} | {u['p50_us'] / o['p50_us']:,.1f}× |")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
