"""Slack's wording of the reports use cases return (commands.reports), one module per
message kind. This is where the contract's rule lives: text that came from a model, a
dataset, a provider or a person is escaped and shown as code, never live mrkdwn."""
