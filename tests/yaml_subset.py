"""The part of YAML the deploy files use (block mappings and lists, scalars, comments), read
without a dependency; anything else is refused with its line rather than guessed at."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# Plain scalars that YAML 1.1 readers (Compose's among them) take for booleans: quote them.
_AMBIGUOUS = {"yes", "no", "on", "off", "y", "n"}
_INTEGER = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


class YamlSubsetError(ValueError):
    """The text uses YAML this reader does not take; the message names the line."""


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    text: str


def load(text: str) -> object:
    """The document in `text`, as dicts, lists, strings, numbers, booleans and None."""
    lines = _lines(text)
    if not lines:
        return None
    value, end = _node(lines, 0, lines[0].indent)
    if end < len(lines):
        raise YamlSubsetError(f"line {lines[end].number}: unexpected indentation")
    return value


def _lines(text: str) -> list[_Line]:
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.lstrip(" ")
        if stripped.startswith("\t"):
            raise YamlSubsetError(f"line {number}: a tab in the indentation")
        content = _without_comment(stripped).rstrip()
        if not content:
            continue
        if content in ("---", "...") or content.startswith("%"):
            raise YamlSubsetError(f"line {number}: one document, without markers or directives")
        lines.append(_Line(number, len(raw) - len(stripped), content))
    return lines


def _without_comment(text: str) -> str:
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quote:
            escaped = char == "\\" and quote == '"'
            if char == quote:
                quote = ""
        elif char in "\"'" and (index == 0 or text[index - 1] in " :-[,"):
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] == " "):
            return text[:index]
    return text


def _node(lines: list[_Line], index: int, indent: int) -> tuple[object, int]:
    if _is_item(lines[index].text):
        return _sequence(lines, index, indent)
    return _mapping(lines, index, indent)


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _sequence(lines: list[_Line], index: int, indent: int) -> tuple[list[object], int]:
    items: list[object] = []
    while index < len(lines) and lines[index].indent == indent and _is_item(lines[index].text):
        line = lines[index]
        rest = line.text[1:].lstrip(" ")
        if not rest:
            if index + 1 >= len(lines) or lines[index + 1].indent <= indent:
                items.append(None)
                index += 1
                continue
            value, index = _node(lines, index + 1, lines[index + 1].indent)
        elif _key_and_rest(rest) is not None:
            # "- key: value" opens a mapping whose keys line up with this first one.
            inner = indent + len(line.text) - len(rest)
            lines[index] = _Line(line.number, inner, rest)
            value, index = _mapping(lines, index, inner)
        else:
            value, index = _scalar(rest, line.number), index + 1
        items.append(value)
    if index < len(lines) and lines[index].indent > indent:
        raise YamlSubsetError(f"line {lines[index].number}: unexpected indentation")
    return items, index


def _mapping(lines: list[_Line], index: int, indent: int) -> tuple[dict[str, object], int]:
    result: dict[str, object] = {}
    while index < len(lines) and lines[index].indent == indent:
        line = lines[index]
        if _is_item(line.text):
            break
        parts = _key_and_rest(line.text)
        if parts is None:
            raise YamlSubsetError(f"line {line.number}: expected `key: value`")
        key, rest = parts
        if key in result:
            raise YamlSubsetError(f"line {line.number}: {key!r} given twice")
        index += 1
        if rest:
            result[key] = _scalar(rest, line.number)
        elif index < len(lines) and (
            lines[index].indent > indent
            or (lines[index].indent == indent and _is_item(lines[index].text))
        ):
            result[key], index = _node(lines, index, lines[index].indent)
        else:
            result[key] = None
    if index < len(lines) and lines[index].indent > indent:
        raise YamlSubsetError(f"line {lines[index].number}: unexpected indentation")
    return result, index


def _key_and_rest(text: str) -> tuple[str, str] | None:
    if text[0] in "\"'":
        end = text.find(text[0], 1)
        if end < 0 or not text[end + 1 :].startswith(":"):
            return None
        key, after = text[1:end], text[end + 2 :]
    else:
        match = re.match(r"([^\s:#'\"][^:]*?):(?: |$)", text)
        if match is None:
            return None
        key, after = match.group(1), text[match.end() :]
    return key, after.strip()


def _scalar(text: str, number: int) -> object:
    if text.startswith('"'):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise YamlSubsetError(f"line {number}: a double-quoted string on one line") from None
    if text.startswith("'"):
        if len(text) < 2 or not text.endswith("'"):
            raise YamlSubsetError(f"line {number}: a single-quoted string on one line")
        return text[1:-1].replace("''", "'")
    if text in ("[]", "{}"):
        return [] if text == "[]" else {}
    if text[0] in "[{&*!|>%@`":
        raise YamlSubsetError(f"line {number}: {text[0]!r} starts YAML this reader does not take")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~"):
        return None
    if lowered in _AMBIGUOUS:
        raise YamlSubsetError(f"line {number}: {text!r} is a boolean to some readers; quote it")
    if _INTEGER.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if ": " in text or " #" in text:
        raise YamlSubsetError(f"line {number}: quote {text!r}")
    return text
