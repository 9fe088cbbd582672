"""Sending a reserved job to Apiframe: its images first, then the request, once.

The job's Idempotency-Key was stored with its reservation, so every retry (after a timeout, an
unreadable answer, or a crash and restart) asks for the same job and never makes a second one.
Only a refusal that no retry can fix ends the job here, with a refund.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from bot.apiframe.client import (
    ApiframeAuthError,
    ApiframeClient,
    ApiframeOutOfCredits,
    ApiframeProtocolError,
    ApiframeRejected,
    ApiframeUnavailable,
    build_generate_body,
)
from bot.backoff import Backoff
from bot.i18n import msg
from bot.jobs.records import Job, JobStore
from bot.requests.rules import ImageRole

log = logging.getLogger(__name__)

# Stored as the job's failure reason in English; the front end shows it in the member's
# language (`Language.known`).
OWNER_PROBLEM: Final = str(
    msg(
        "The video service is not available right now because of a problem with this bot's "
        "Apiframe account (not anything you did). The bot's owner has been told."
    )
)


class SubmitRefused(Exception):
    """Apiframe will not take this job; `reason` is what the member is told."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Submitter:
    def __init__(
        self,
        client: ApiframeClient,
        jobs: JobStore,
        *,
        webhook_url: str | None = None,
        retry_floor: float = 4.0,
    ) -> None:
        self._client = client
        self._jobs = jobs
        self._webhook_url = webhook_url
        self._backoff = Backoff(floor=retry_floor)

    async def submit(self, job: Job) -> Job:
        """The job as submitted; raises `SubmitRefused` when Apiframe refuses it for good."""
        failures = 0
        while True:
            try:
                if job.needs_upload:
                    await self._upload_images(job)
                    job = await self._jobs.require(job.id)
                accepted = await self._client.submit(self.body(job), job.idempotency_key)
            except ApiframeUnavailable as exc:
                failures += 1
                delay = self._backoff.delay(failures)
                log.warning(
                    "job %s: submit not confirmed (%s); trying again in %.0fs with "
                    "the same Idempotency-Key",
                    job.id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            except (ApiframeAuthError, ApiframeOutOfCredits) as exc:
                log.error(
                    "job %s: Apiframe refused the bot's account: %s (HTTP %s, request %s). "
                    "Check APIFRAME_API_KEY and the account's credits.",
                    job.id,
                    exc.message,
                    exc.status,
                    exc.request_id,
                )
                raise SubmitRefused(OWNER_PROBLEM) from None
            except ApiframeProtocolError as exc:
                # A 2xx we cannot read: the job may exist, so ask again with the same key.
                failures += 1
                delay = self._backoff.delay(failures)
                log.warning(
                    "job %s: unreadable answer to the submit (%s); asking again in "
                    "%.0fs with the same Idempotency-Key",
                    job.id,
                    exc.message,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            except ApiframeRejected as exc:
                log.warning(
                    "job %s: Apiframe refused the request: %s (request %s)",
                    job.id,
                    exc.message,
                    exc.request_id,
                )
                raise SubmitRefused(f"Apiframe refused the request: {exc.message}") from None
            await self._jobs.record_submitted(job.id, accepted.job_id, accepted.status)
            log.info("job %s submitted as Apiframe job %s", job.id, accepted.job_id)
            return await self._jobs.require(job.id)

    async def _upload_images(self, job: Job) -> None:
        images = await self._jobs.images(job.id)
        urls: dict[ImageRole, str] = {}
        for image in images:
            if (image.role is ImageRole.START and job.start_image_url) or (
                image.role is ImageRole.END and job.end_image_url
            ):
                continue
            urls[image.role] = await self._client.upload(
                image.filename, image.content_type, image.data
            )
        await self._jobs.record_uploads(job.id, urls)

    def body(self, job: Job) -> dict[str, object]:
        return build_generate_body(
            model=job.model.value,
            prompt=job.prompt,
            duration=job.duration,
            resolution=job.resolution.value,
            prompt_optimizer=job.prompt_optimizer,
            image_url=job.start_image_url,
            end_image_url=job.end_image_url,
            webhook_url=self._webhook_url,
        )
