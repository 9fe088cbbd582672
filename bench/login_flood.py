"""`python -m bench.login_flood BASE RATE SECONDS`: anonymous logins at a steady rate.

Each attempt is what anyone on the internet can do without a Discord account: start a login
(`/dashboard/login`, which hands out a signed state and a cookie), then come back to the
callback with that state and a made-up code, each from an address of its own (the worst case
for per-address limits: a botnet). Run as its own process beside the bot, so the benchmark's
fake Discord (which times the commands' answers) does not share an event loop with the flood.
Prints one JSON line: how many went, how the bot answered, and the rate reached.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import aiohttp

IN_FLIGHT = 64
TICK = 0.01


async def flood(base: str, rate: float, seconds: float) -> dict[str, object]:
    answers: Counter[str] = Counter()
    slots = asyncio.Semaphore(IN_FLIGHT)
    pending: set[asyncio.Task[None]] = set()
    sent = 0
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout
    ) as session:

        async def attempt(index: int) -> None:
            address = {
                "X-Forwarded-For": f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"
            }
            try:
                async with session.get(
                    f"{base}/login", headers=address, allow_redirects=False
                ) as answer:
                    await answer.read()
                    if answer.status != 302:
                        answers[f"login {answer.status}"] += 1
                        return
                    state = parse_qs(urlsplit(answer.headers["Location"]).query)["state"][0]
                    nonce = answer.cookies["hailuo_login"].value
                headers = {**address, "Cookie": f"hailuo_login={nonce}"}
                async with session.get(
                    f"{base}/callback",
                    params={"code": f"made-up-{index}", "state": state},
                    headers=headers,
                    allow_redirects=False,
                ) as answer:
                    await answer.read()
                    answers[f"callback {answer.status}"] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                answers[type(exc).__name__] += 1
            finally:
                slots.release()

        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < seconds:
            while sent < rate * elapsed:
                await slots.acquire()
                task = asyncio.create_task(attempt(sent))
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(TICK)
        await asyncio.gather(*pending)
        took = time.monotonic() - began
    return {"sent": sent, "answers": dict(answers), "rate": sent / took}


def main() -> None:
    base, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(asyncio.run(flood(base, rate, seconds))))


if __name__ == "__main__":
    main()
