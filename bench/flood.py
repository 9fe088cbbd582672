"""`python -m bench.flood URL RATE SECONDS`: forged Apiframe webhooks at a steady rate.

Run as its own process beside the bot, so the benchmark's fake Discord (which times the
answers) does not share an event loop with the flood. Most deliveries are ordinary-looking
bodies with a wrong signature; every tenth is 60 KiB of padding, every hundredth a body nested
far past any real webhook. Prints one JSON line: how many went, how the bot answered them, and
the rate reached.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import aiohttp

IN_FLIGHT = 64
TICK = 0.01  # seconds between batches


def forged(index: int) -> bytes:
    if index % 100 == 0:
        return ('{"a":' * 10_000 + "0" + "}" * 10_000).encode()
    body: dict[str, object] = {"jobId": f"forged-{index}", "status": "completed"}
    if index % 10 == 0:
        body["padding"] = "x" * 60 * 1024
    return json.dumps(body).encode()


async def flood(url: str, rate: float, seconds: float) -> dict[str, object]:
    answers: Counter[str] = Counter()
    slots = asyncio.Semaphore(IN_FLIGHT)
    sent = 0
    pending: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(index: int) -> None:
            try:
                async with session.post(
                    url,
                    data=forged(index),
                    headers={"X-Webhook-Signature": f"sha256={index:064x}"},
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    await response.read()
                    answers[str(response.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                answers[type(exc).__name__] += 1
            finally:
                slots.release()

        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < seconds:
            # Catch up to where the rate says the flood should be: a slow answer delays the
            # batch, not the total.
            while sent < rate * elapsed:
                await slots.acquire()
                task = asyncio.create_task(send(sent))
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(TICK)
        await asyncio.gather(*pending)
        took = time.monotonic() - began
    return {"sent": sent, "answers": dict(answers), "rate": sent / took}


def main() -> None:
    url, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(asyncio.run(flood(url, rate, seconds))))


if __name__ == "__main__":
    main()
