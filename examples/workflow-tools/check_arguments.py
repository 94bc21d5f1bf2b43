"""The share of the item's expected arguments the first tool call got right."""

import json


def grade(sample, item):
    calls = sample["output_tools"]
    if not calls:
        return 0.0
    try:
        arguments = json.loads(calls[0]["function"]["arguments"] or "{}")
    except ValueError:
        return 0.0
    expected = item["args"]
    right = sum(1 for key, value in expected.items() if arguments.get(key) == value)
    return right / len(expected)
