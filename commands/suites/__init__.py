"""The suite model every command family shares: a suite's files, its templates, its
graders (OpenAI's grader schema) and the grading of one sample.

Not a command family: eval, finetune and watch all read suites, so the model lives
below them (pyproject.toml's import-linter contracts).
"""
