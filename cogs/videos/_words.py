"""The words of saved /hailuo defaults: what was saved, what a request used, and how to change
them when they made it fail."""

from __future__ import annotations

from bot.i18n import Language, Text, Words, msg
from bot.requests.defaults import AppliedDefault, DefaultSource, OptionDefaults, conflicts
from bot.requests.rules import Model


def on_off(lang: Language, value: bool) -> str:
    return lang.tr("on") if value else lang.tr("off")


def described(lang: Language, defaults: OptionDefaults) -> str:
    """Saved defaults in a few words: `6 s, 768p, prompt optimizer on, camera Push in`."""
    parts = []
    if defaults.duration is not None:
        parts.append(f"{defaults.duration} s")
    if defaults.resolution is not None:
        parts.append(defaults.resolution)
    if defaults.prompt_optimizer is not None:
        parts.append(
            lang.tr("prompt optimizer {state}", state=on_off(lang, defaults.prompt_optimizer))
        )
    if defaults.camera:
        parts.append(lang.tr("camera {moves}", moves=defaults.camera))
    if defaults.model is not None:
        parts.append(Model(defaults.model).label)
    return ", ".join(parts) or lang.tr("none")


def _shown(lang: Language, default: AppliedDefault) -> str:
    value = default.value
    if default.option == "duration":
        shown = lang.tr("duration {value} s", value=value)
    elif default.option == "resolution":
        shown = lang.tr("resolution {value}", value=value)
    elif default.option == "prompt_optimizer":
        shown = lang.tr("prompt optimizer {state}", state=on_off(lang, bool(value)))
    elif default.option == "model":
        shown = lang.tr("model {name}", name=Model(str(value)).label)
    else:
        shown = lang.tr("camera {moves}", moves=value)
    whose = lang.tr("yours") if default.source is DefaultSource.MEMBER else lang.tr("the server's")
    return f"{shown} ({whose})"


def defaults_used(lang: Language, applied: tuple[AppliedDefault, ...]) -> str:
    """For the acknowledgement: which saved defaults filled the options not typed."""
    if not applied:
        return ""
    return "\n" + lang.tr(
        "Saved defaults used: {defaults}.",
        defaults=", ".join(_shown(lang, d) for d in applied),
    )


def defaults_fix(applied: tuple[AppliedDefault, ...]) -> Text:
    """For a refusal: saved defaults were part of the request, and how to change them."""
    return msg(
        "Saved defaults were used for: {defaults}. Change yours with `/hailuo-defaults` "
        "(the server's with `/quota defaults`), or type the option to override them.",
        defaults=Words(lambda lang: ", ".join(_shown(lang, d) for d in applied)),
    )


def defaults_saved(lang: Language, server: bool, saved: OptionDefaults) -> str:
    head = (
        lang.tr(
            "This server's saved /hailuo defaults: {defaults}.", defaults=described(lang, saved)
        )
        if server
        else lang.tr(
            "Your saved /hailuo defaults in this server: {defaults}.",
            defaults=described(lang, saved),
        )
    )
    lines = [head, lang.tr("Options typed in /hailuo always win; then yours; then the server's.")]
    lines.extend(f"⚠️ {lang.render(problem)}" for problem in conflicts(saved))
    return "\n".join(lines)
