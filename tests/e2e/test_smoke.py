from testkit.harness import RunningBot


async def test_bot_connects_and_syncs_commands(running: RunningBot) -> None:
    names = sorted(c["name"] for c in running.discord.commands)
    assert names == [
        "Animate with Hailuo",
        "credits",
        "hailuo",
        "hailuo-defaults",
        "hailuo-story",
        "owner",
        "quota",
        "video",
        "wallet",
    ]
