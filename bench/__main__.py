"""`make bench`: every benchmark against the emulator on loopback, then one table.

Not part of `make test`: it takes a few minutes and measures, rather than asserts.
"""

from __future__ import annotations

import asyncio
import os
import platform

from bench import broadcast, import_stall, latency, priority, reminders, webapp


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fp:
            names = [line.split(":", 1)[1].strip() for line in fp if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    )


async def main() -> None:
    starts = {n: await reminders.startup(n) for n in reminders.SIZES}  # fresh processes
    start = starts[50]
    catch = await reminders.catch_up(500)
    lat = await latency.main()
    due = await reminders.due_time_error(20)
    flood = await reminders.flood_controlled_cohort()
    bc = await broadcast.broadcast(1000)
    people = await priority.people_during_broadcast(1000)
    stall = await import_stall.import_stall()
    mini = await webapp.main()
    ob, eb, pb = lat["ours_burst"], lat["echo_burst"], lat["plain_echo_burst"]  # type: ignore[misc]
    rows = []
    for command in latency.COMMANDS:
        (o50, o99), (e50, e99) = lat["ours"][command], lat["echo"][command]  # type: ignore[index]
        rows.append((f"{command} p50 / p99 (100 users)",
                     f"{o50 * 1000:.1f} / {o99 * 1000:.1f} ms",
                     f"echo {e50 * 1000:.1f} / {e99 * 1000:.1f} ms; "
                     f"{o50 / e50:.2f}x / {o99 / e99:.2f}x"))  # fmt: skip
    rows += [
        ("updates handled per second (limiter off)", f"{lat['ours_rate']:.0f}/s",
         f"echo {lat['echo_rate']:.0f}/s; Telegram lets a bot send ~30/s"),
        ("/today burst from 100 users, limiter off: p50 / p99",
         f"{ob[0] * 1000:.0f} / {ob[1] * 1000:.0f} ms",
         f"echo bot giving the same answer {eb[0] * 1000:.0f} / {eb[1] * 1000:.0f} ms: "
         f"p99 {ob[1] / eb[1]:.2f}x (goal: within 1.5x); echo bot echoing the command "
         f"{pb[0] * 1000:.0f} / {pb[1] * 1000:.0f} ms: p99 {ob[1] / pb[1]:.2f}x"),
        (f"/today from 20 users during a {stall['rows']:,.0f}-row re-import in another process",
         f"worst {stall['worst_s'] * 1000:.0f} ms",
         f"p99 {stall['p99_s'] * 1000:.0f} ms, {stall['answers']:.0f} answers, "
         f"{stall['unanswered']:.0f} unanswered; import {stall['import_s']:.1f} s "
         "(goal: every answer within 1 s)"),
        ("start-up, 50 cohorts x 100 sessions x 40 members", f"{start['startup_s']:.2f} s",
         f"{start['jobs']:.0f} jobs, peak RSS {start['rss_mb']:.0f} MB"),
        *((f"start-up, {n} cohorts x 100 x 40 (fresh process, ready)",
           f"{starts[n]['ready_s']:.2f} s",
           f"{starts[n]['jobs']:.0f} reminders queued (48 h horizon), peak RSS "
           f"{starts[n]['rss_mb']:.0f} MB; floor 1.5 s / 120 MB at 500")
          for n in reminders.SIZES),
        ("catch-up: 500 x 100 sessions all moved by another process",
         f"{catch['correct_after_write_s']:.1f} s",
         f"after its last commit (write {catch['write_s']:.1f} s); floor 30 s; "
         f"{catch['items']:.0f} reminders checked against the database"),
        ("/today p50 / p99 during that catch-up (100 users, limiter off)",
         f"{catch['today_p50_ms']:.0f} / {catch['today_p99_ms']:.0f} ms",
         f"{catch['today_answers']:.0f} answers, {catch['notices_meanwhile']:.0f} change "
         "notices sent meanwhile; floor p99 100 ms"),
        ("reminder due-time error, 20 reminders",
         f"median {due['due_error_median_s'] * 1000:.0f} ms",
         f"worst {due['due_error_worst_s'] * 1000:.0f} ms"),
        ("reminder to 40 members, flood control on", f"{flood['wall_s']:.2f} s",
         f"{flood['sent']:.0f} sent, {flood['429s']:.0f} x 429"),
        ("broadcast to 1,000, flood control on", f"{bc['wall_s']:.1f} s",
         f"floor {bc['floor_s']:.1f} s ({bc['over_floor_pct']:+.1f}%), {bc['429s']:.0f} x 429, "
         f"{bc['duplicates']:.0f} duplicates, {bc['losses']:.0f} losses"),
        (f"/today p50 / p99 ({priority.ASKERS} users) while a 1,000 broadcast drains",
         f"{people['today_p50_s'] * 1000:.0f} / {people['today_p99_s'] * 1000:.0f} ms",
         f"bound 1.5 s; broadcast {people['wall_s']:.1f} s, "
         f"{people['wall_s'] / people['floor_shared_s']:.3f}x the floor of all "
         f"{people['sent_meanwhile']:.0f} messages sent meanwhile "
         f"({people['wall_s'] / people['floor_alone_s']:.3f}x of 1,000 alone), "
         f"{people['429s']:.0f} x 429"),
    ]  # fmt: skip
    for load, results in mini.items():
        p50, p99 = results["all endpoints"]
        worst = max((v for k, v in results.items() if k != "all endpoints"), key=lambda v: v[1])
        rows.append((f"Mini App API, {webapp.SESSIONS}-session cohort, {load}: p50 / p99",
                     f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms",
                     "every endpoint, signed initData; slowest endpoint p99 "
                     f"{worst[1] * 1000:.0f} ms; goal p99 50 ms"))  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"\nMobility Bot benchmarks on {machine()}\n")
    print(f"| {'measure':<{width}} | result | notes |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for name, value, note in rows:
        print(f"| {name:<{width}} | {value} | {note} |")


if __name__ == "__main__":
    asyncio.run(main())
