"""The forms of a server's pages (each behind `server_guard`, with its CSRF token): a member's
credits, Delete on a video, and the settings, one small function per section, each through the
same domain calls and checks as its `/quota` command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web

from bot.dashboard.directory import DirectoryRefused
from bot.dashboard.pages import visited_job
from bot.dashboard.site import VISIT, Visit, site_of
from bot.dashboard.values import FormRefused, bounded, id_in_path, whole_number
from bot.errors import RequestRejected, UserFacingError
from bot.jobs.records import Job
from bot.money.allowances import EVERYONE, Period
from bot.money.rules import MAX_AMOUNT
from bot.money.servers import PER_MEMBER_LIMITS, PER_SERVER_LIMITS
from bot.requests.defaults import SERVER, OptionDefaults
from bot.services import Services

Form = Mapping[str, Any]
AMOUNTS: Final = range(-MAX_AMOUNT, MAX_AMOUNT + 1)
BALANCES: Final = range(MAX_AMOUNT + 1)


async def change_credits(request: web.Request) -> web.Response:
    visit = request[VISIT]
    member_id = id_in_path(request, "member")
    form = await request.post()
    amount = whole_number(str(form.get("amount", "")))
    note = str(form.get("reason", ""))
    action = form.get("action")
    lang, ledger = visit.lang, site_of(request).services.ledger
    if amount is None or amount not in AMOUNTS:
        bounds = {"low": -MAX_AMOUNT, "high": MAX_AMOUNT}
        visit.flash("error", lang.tr("Give an amount from {low} to {high}.", **bounds))
    elif action == "set" and amount < 0:
        visit.flash("error", lang.tr("A balance cannot be negative."))
    else:
        move = ledger.set_balance if action == "set" else ledger.add_credits
        change = await move(visit.guild_id, member_id, amount, visit.user_id, note)
        said = lang.tr(
            "The balance is now {balance} ({change:+d}).",
            balance=change.balance,
            change=change.delta,
        )
        visit.flash("ok", said)
    raise visit.back(f"/members/{member_id}")


async def delete_video(request: web.Request) -> web.Response:
    """Delete in the order that leaves nothing half done: allowed, then the messages gone at
    Discord, then the video marked deleted and its copy let go of. Should Discord refuse, the
    video stays as it was, and Delete is still offered."""
    site, visit = site_of(request), request[VISIT]
    job = await visited_job(request)
    studio = site.services.studio
    # The Delete button's own rule: its member, or someone with Manage Messages.
    allowed = {"manages_messages": visit.rights.manage_messages}
    try:
        await studio.deletable(job.id, visit.guild_id, visit.user_id, **allowed)
        for channel_id, message_id in messages_of(job):
            await site.directory.delete_message(channel_id, message_id)
        await studio.delete(job.id, visit.guild_id, visit.user_id, **allowed)
    except UserFacingError as error:
        visit.flash("error", visit.lang.render(error.text))
        raise visit.back(f"/videos/{job.id}") from None
    except DirectoryRefused:
        visit.flash(
            "error",
            visit.lang.tr(
                "Discord refused to delete the video's message (the bot may lack Manage "
                "Messages in its channel), so nothing was deleted: try again, or delete the "
                "message in Discord."
            ),
        )
        raise visit.back(f"/videos/{job.id}") from None
    site.thumbnails.forget(job.id)
    visit.flash("ok", visit.lang.tr("Deleted. (Credits are not affected.)"))
    raise visit.back("/videos")


async def change_settings(request: web.Request) -> web.Response:
    visit = request[VISIT]
    section = SECTIONS.get(request.match_info["section"])
    if section is None:
        raise web.HTTPNotFound()
    form = await request.post()
    try:
        said = await section(site_of(request).services, visit, form)
    except RequestRejected as refused:
        visit.flash("error", " ".join(visit.lang.render(p) for p in refused.problems))
    except UserFacingError as refused:
        visit.flash("error", visit.lang.render(refused.text))
    except FormRefused as refused:
        visit.flash("error", str(refused))
    except ValueError:  # a value no field of the form offers (a forged or stale form)
        visit.flash("error", visit.lang.tr("That choice is not one this form offers: reload it."))
    else:
        visit.flash("ok", said)
    raise visit.back("/settings")


# -- the settings, one section each -------------------------------------------------------------


async def _default(services: Services, visit: Visit, form: Form) -> str:
    amount = bounded(form.get("amount"), BALANCES, visit.lang)
    await services.guild_settings.set_default_credits(visit.guild_id, amount, visit.user_id)
    return visit.lang.tr("Members new to the bot now start with {amount} credits.", amount=amount)


async def _cap(services: Services, visit: Visit, form: Form) -> str:
    cap = bounded(form.get("amount"), BALANCES, visit.lang)
    await services.guild_settings.set_monthly_cap(visit.guild_id, cap or None, visit.user_id)
    return visit.lang.tr("The monthly cap is now {cap}.", cap=cap or visit.lang.tr("none"))


async def _limits(services: Services, visit: Visit, form: Form) -> str:
    # The bounds are the server's settings' own (as `/quota limits` has them), checked there too.
    per_member = bounded(form.get("per_member"), PER_MEMBER_LIMITS, visit.lang)
    per_server = bounded(form.get("per_server"), PER_SERVER_LIMITS, visit.lang)
    await services.guild_settings.set_limits(visit.guild_id, per_member, per_server, visit.user_id)
    await services.studio.limits_changed(visit.guild_id)
    return visit.lang.tr(
        "Limits saved: {member} per member, {server} for the server.",
        member=per_member,
        server=per_server,
    )


async def _allowance(services: Services, visit: Visit, form: Form) -> str:
    amount = bounded(form.get("amount"), BALANCES, visit.lang)
    role = whole_number(str(form.get("role", "")))
    period = Period(str(form.get("period", "")))
    await services.guild_settings.set_allowance(
        visit.guild_id,
        None if not role or role == EVERYONE else role,
        amount,
        period,
        visit.user_id,
    )
    return visit.lang.tr("Allowance saved.") if amount else visit.lang.tr("Allowance removed.")


async def _words(services: Services, visit: Visit, form: Form) -> str:
    wanted = [w for w in (" ".join(x.split()) for x in str(form.get("words", "")).split(",")) if w]
    rules, guild_id = services.rules, visit.guild_id
    current = list((await rules.blocked_words(guild_id)).entries)
    gone = [w for w in current if w not in wanted]
    added = [w for w in wanted if w not in current]
    if gone:
        await rules.unblock(guild_id, gone)
    if added:
        await rules.block(guild_id, added, visit.user_id)
    return visit.lang.tr(
        "Blocked words saved: {count} in all.",
        count=len((await rules.blocked_words(guild_id)).entries),
    )


async def _nsfw(services: Services, visit: Visit, form: Form) -> str:
    allowed = form.get("allowed") == "on"
    await services.rules.set_nsfw_allowed(visit.guild_id, allowed, visit.user_id)
    return (
        visit.lang.tr("Adult content is now allowed in age-restricted channels.")
        if allowed
        else visit.lang.tr("Adult content is now refused everywhere.")
    )


async def _defaults(services: Services, visit: Visit, form: Form) -> str:
    given = OptionDefaults(
        duration=whole_number(str(form.get("duration", ""))),
        resolution=str(form.get("resolution")) or None,
        prompt_optimizer={"on": True, "off": False}.get(str(form.get("prompt_optimizer"))),
        camera=str(form.get("camera", "")).strip() or None,
        model=str(form.get("model")) or None,
    )
    await services.option_defaults.update(visit.guild_id, SERVER, given, clear=True)
    return visit.lang.tr("The server's defaults are saved.")


SECTIONS: Final[dict[str, Callable[[Services, Visit, Form], Awaitable[str]]]] = {
    "default": _default,
    "cap": _cap,
    "limits": _limits,
    "allowance": _allowance,
    "words": _words,
    "nsfw": _nsfw,
    "defaults": _defaults,
}


def messages_of(job: Job) -> list[tuple[int, int]]:
    """The messages that carry a video: its file's, and its card's."""
    found = []
    if job.video_channel_id and job.video_message_id:
        found.append((job.video_channel_id, job.video_message_id))
    if job.card_message_id and (job.channel_id, job.card_message_id) not in found:
        found.append((job.channel_id, job.card_message_id))
    return found
