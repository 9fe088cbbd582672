"""What the bot counts for Prometheus, through the official client library.

One `Metrics` object per bot, on its own registry (so two bots in one process, as in the tests,
never mix their numbers). Every label has a small fixed set of values: command names, outcomes,
routes, statuses, resolutions; never a member, server or job id.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
FAST_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
RENDER_BUCKETS: Final = (30, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1800, 3600)
LAG_BUCKETS: Final = (0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 30, 60, 120)
WRITE_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def apiframe_route(path: str) -> str:
    """A bounded label for an Apiframe path: the job id never becomes a label value."""
    if path.startswith("/v2/jobs/"):
        return "jobs"
    return {"/v2/videos/generate": "generate", "/v2/uploads": "uploads", "/v2/me": "me"}.get(
        path, "other"
    )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.commands = Counter(
            "hailuo_commands",
            "Slash commands and buttons handled.",
            ["command", "outcome"],
            registry=r,
        )
        self.acknowledgement = Histogram(
            "hailuo_acknowledgement_seconds",
            "From Discord creating an interaction to the bot's first answer.",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.jobs = Gauge("hailuo_jobs", "Jobs by state, from the database.", ["state"], registry=r)
        self.jobs_finished = Counter(
            "hailuo_jobs_finished", "Jobs settled, by outcome.", ["outcome"], registry=r
        )
        self.job_duration = Histogram(
            "hailuo_job_render_seconds",
            "From submit to Apiframe's COMPLETED.",
            ["resolution", "duration"],
            buckets=RENDER_BUCKETS,
            registry=r,
        )
        self.delivery_lag = Histogram(
            "hailuo_delivery_lag_seconds",
            "From the bot learning a job ended to the member's message carrying it.",
            ["via"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.apiframe_requests = Counter(
            "hailuo_apiframe_requests", "Requests to Apiframe.", ["route", "status"], registry=r
        )
        self.apiframe_rate_limited = Counter(
            "hailuo_apiframe_rate_limited", "429 answers from Apiframe.", registry=r
        )
        self.credits = Counter(
            "hailuo_credits", "Credits moved for jobs.", ["movement"], registry=r
        )
        self.queue = Gauge(
            "hailuo_queue_length", "Things waiting their turn.", ["queue"], registry=r
        )
        self.database_write = Histogram(
            "hailuo_database_write_seconds",
            "From asking for a write transaction to its commit (ledger moves among them).",
            buckets=WRITE_BUCKETS,
            registry=r,
        )
        self.database_busy = Counter(
            "hailuo_database_busy",
            "Operations refused because no database connection came free in time.",
            registry=r,
        )
        self.readiness_probes = Counter(
            "hailuo_readiness_probes",
            "Readiness probes run (at most one every few seconds, however often /readyz is asked).",
            registry=r,
        )
        self.webhooks = Counter(
            "hailuo_webhook_deliveries", "Apiframe webhook deliveries.", ["result"], registry=r
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
