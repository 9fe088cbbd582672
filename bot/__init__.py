"""hailuo-bot: Hailuo videos for Discord servers, paid from server-managed credits.

The tree shows the layers; each area imports only the areas below it (a test reads the imports):

    client/, __main__.py           the Discord side: the discord.py bot, its start-up, what the
                                   dashboard asks of Discord (the one package here that imports
                                   discord; nothing imports cogs/)
    assembly.py                    every part that decides, built and wired without Discord
    dashboard/                     the admin dashboard on the bot's HTTP server
    studio.py, runner.py,          the workflows: what a member starts, and a job driven to its
    services.py                    end (the one place it is settled); what the front ends use
    operations/                    running it: HTTP server, audit channel, reports, check, CLI
    store/                         keeping it: one store over SQLite or PostgreSQL
    money/                         credits: the ledger, allowances, prices, server settings
    jobs/                          a job's records and the steps of its life
    apiframe/                      the API that makes the videos, and its simulator
    media/, requests/              the bytes of pictures and videos; what may be asked for
    settings.py, errors.py,        shared by all: the settings, the errors, the words
    i18n.py, clock.py, logs.py,    (catalogues in locales/), the clock, logs, metrics,
    metrics.py, backoff.py,        retries, HTTP sessions, and which release this is
    sessions.py, release.py
"""
