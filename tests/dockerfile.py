"""A Dockerfile read as the builder reads it: comments dropped, continued lines joined, one
instruction each, with the exec (JSON) form of CMD and HEALTHCHECK decoded."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, CMD, …
    arguments: str

    def exec_form(self) -> list[str] | None:
        """The arguments as the JSON list of the exec form, or None for the shell form."""
        if not self.arguments.startswith("["):
            return None
        parsed = json.loads(self.arguments)
        if not isinstance(parsed, list) or not all(isinstance(part, str) for part in parsed):
            raise ValueError(f"{self.keyword}: the exec form is a JSON list of strings")
        return parsed

    def options(self) -> tuple[dict[str, str], str]:
        """The leading `--name=value` options, and what follows them."""
        options: dict[str, str] = {}
        rest = self.arguments
        while rest.startswith("--"):
            option, _, rest = rest.partition(" ")
            name, _, value = option[2:].partition("=")
            options[name] = value
            rest = rest.lstrip()
        return options, rest


def parse(text: str) -> list[Instruction]:
    instructions = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        # Comments go, even between continued lines, as the builder drops them.
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    if pending:
        raise ValueError("the last instruction ends with a line continuation")
    return instructions


def healthcheck_command(instruction: Instruction) -> tuple[dict[str, str], list[str] | None]:
    """HEALTHCHECK's options and its command in exec form (None for the shell form)."""
    options, rest = instruction.options()
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD":
        raise ValueError(f"HEALTHCHECK: expected CMD, found {keyword!r}")
    return options, Instruction("CMD", command.strip()).exec_form()
