"""The Mini App's API (issue 13): a 100-session cohort, 40 members, 20 cohorts.

The bot runs as its own process (`python -m bot run`, serving the Mini App on loopback)
against the emulator in this process. Each endpoint is called as the page calls it (a
student's week, a session, their reminders; a coordinator's cohorts, sessions table, roster,
audit and a change's preview), every request signed with its own initData: first one request
at a time (the answer time itself), then 10 clients at once (a busy moment). Prints p50 / p99
per endpoint and over all of them.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench.common import percentile, programme
from bench.latency import launch
from bot.emulator import BotApiEmulator
from bot.webapp.initdata import sign

COHORTS, SESSIONS, MEMBERS = 20, 100, 40
COORDINATOR = 900
ROUNDS = 60  # requests per endpoint
CLIENTS = 10


async def main() -> dict[str, dict[str, tuple[float, float]]]:
    with tempfile.TemporaryDirectory() as folder:
        database = await programme(Path(folder), COHORTS, SESSIONS, MEMBERS)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        async with BotApiEmulator() as emulator:
            extra = {
                "BOT_COORDINATORS": str(COORDINATOR),
                "BOT_WEBAPP_URL": "https://mini.example.org/",
                "BOT_WEBAPP_LISTEN": f"127.0.0.1:{port}",
            }
            process = launch([sys.executable, "-m", "bot", "run"], emulator, database, "0", extra)
            try:
                await emulator.wait_for_request("getUpdates", 1, timeout=60)
                base = f"http://127.0.0.1:{port}/"
                return {
                    "one at a time": await _measure(base, emulator.token, clients=1),
                    f"{CLIENTS} clients": await _measure(base, emulator.token, clients=CLIENTS),
                }
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)


async def _measure(base: str, token: str, clients: int) -> dict[str, tuple[float, float]]:
    student = 10_000_000  # the first member of BENCH-000
    sessions_of_first = range(1, SESSIONS + 1)
    endpoints = {
        "student: week": ("GET", "api/week", student, None),
        "student: session": ("GET", "api/sessions/{s}", student, None),
        "student: reminders": ("GET", "api/reminders", student, None),
        "student: me": ("GET", "api/me", student, None),
        "coordinator: cohorts": ("GET", "api/cohorts", COORDINATOR, None),
        "coordinator: sessions table": ("GET", "api/cohorts/BENCH-000/sessions", COORDINATOR,
                                        None),
        "coordinator: roster": ("GET", "api/cohorts/BENCH-000/roster", COORDINATOR, None),
        "coordinator: audit": ("GET", "api/cohorts/BENCH-000/audit", COORDINATOR, None),
        "coordinator: move preview": ("POST", "api/sessions/{s}/change", COORDINATOR,
                                      {"action": "room", "place": "Room 1", "revision": 0}),
    }  # fmt: skip
    results: dict[str, tuple[float, float]] = {}
    everything: list[float] = []
    gate = asyncio.Semaphore(clients)
    async with aiohttp.ClientSession() as http:

        async def one(method: str, path: str, user: int, body: object, i: int) -> float:
            language = ("uz", "ru", "en")[i % 3]
            init = sign({"id": user, "first_name": "B", "language_code": language}, token,
                        datetime.now(UTC))  # fmt: skip
            url = base + path.format(s=sessions_of_first[i % SESSIONS])
            async with gate:
                started = time.perf_counter()
                async with http.request(
                    method, url, json=body, headers={"Authorization": f"tma {init}"}
                ) as response:
                    await response.read()
                    assert response.status == 200, (url, response.status)
                return time.perf_counter() - started

        for name, (method, path, user, body) in endpoints.items():
            for i in range(3):  # warm: the first read of each kind, in each language
                await one(method, path, user, body, i)
            times = await asyncio.gather(
                *(one(method, path, user, body, i) for i in range(ROUNDS))
            )
            everything += times
            results[name] = (percentile(times, 50), percentile(times, 99))
    results["all endpoints"] = (percentile(everything, 50), percentile(everything, 99))
    return results


def report(results: dict[str, dict[str, tuple[float, float]]]) -> str:
    lines = [f"Mini App API, {SESSIONS}-session cohort ({COHORTS} cohorts x {MEMBERS} members),"
             " p50 / p99"]  # fmt: skip
    names = list(next(iter(results.values())))
    lines.append(f"  {'':<30} " + "".join(f"{load:>22}" for load in results))
    for name in names:
        cells = "".join(
            f"{results[load][name][0] * 1000:>9.1f} / {results[load][name][1] * 1000:>6.1f} ms"
            for load in results
        )
        lines.append(f"  {name:<30} {cells}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(asyncio.run(main())))
