"""hailuo-bot: Hailuo 02 videos for Discord servers, paid from server-managed credits."""
