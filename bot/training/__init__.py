"""Open-weight training on a Ray cluster: the job's spec (shared with the bot) and the
entrypoint that runs on the cluster (`python -m bot.training`)."""
