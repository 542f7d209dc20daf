"""PLACEHOLDER help text until the grammar lands."""


def help_text(role: str) -> str:
    return "报体温请直接发数字，如：36.5"
