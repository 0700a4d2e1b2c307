"""Fast paths for serpent text: writing plain data with ``repr`` and reading it back without ``ast``.

serpent's own writer walks every value in Python and its reader is ``ast.literal_eval``, whose
parser alone costs ~10 µs even for ``[(),{}]``. Most payloads are plain data (str, int, float,
bool, None, bytes, list, tuple, dict), for which

* ``repr()`` already *is* a serpent document body (serpent itself writes these types with
  ``repr``, only without the blanks after commas), and
* a small tokenizer plus a stack of open containers reads the text back far faster.

The reader accepts a strict subset of the Python literal syntax: anything outside it (escapes in
strings, complex numbers, ``set()``, comments other than the serpent header, deep nesting, ...)
raises :class:`NotSimple`, and the caller falls back to ``serpent.loads``. Within the subset it
gives exactly what ``ast.literal_eval`` gives; the property tests hold it to that.
"""

from __future__ import annotations

import re
from typing import Any

HEADER = "# serpent utf-8 python3.2\n"
HEADER_BYTES = HEADER.encode()
MAX_DEPTH = 100  # deeper nesting goes to serpent.loads (the Python parser has its own limit)


class NotSimple(Exception):
    """The text is outside the subset this reader handles; use serpent.loads."""


def dumps_plain(obj: Any) -> bytes:
    """serpent text of plain data (the caller has checked it is plain: see serializers)."""
    return HEADER_BYTES + repr(obj).encode("utf-8")


# One token per match; each alternative is a group, so findall gives a tuple per token with
# exactly one non-empty field. The last group catches any other character: findall then skips
# nothing but trailing blanks, and a stray character makes the text NotSimple.
_NUMBER_END = r"(?![0-9A-Za-z_.])"  # 1e5, 0x1f, 1_0, 1j, 1.5.2 are not split into simple tokens
_INT = r"-?(?:0|[1-9][0-9]*)"
_FLOAT = r"-?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)"
_STR = r"'[^'\\\x00-\x08\x0a-\x1f\x7f]*'|\"[^\"\\\x00-\x08\x0a-\x1f\x7f]*\""  # no escapes
_BYTES = r"b(?:'[\t\x20-\x26\x28-\x5b\x5d-\x7e]*'|\"[\t\x20\x21\x23-\x5b\x5d-\x7e]*\")"  # ASCII
_TOKEN = re.compile(
    r"[ \t\n]*(?:"
    # 1: a run of ints, "1, 2, 3", right after "[" or "(" (never in a dict, where "{1: 2, 3: 4}"
    # would run across keys and values): one token, split in C, instead of one per number
    rf"(?<=[\[(])({_INT}(?:[ \t\n]*,[ \t\n]*{_INT})+){_NUMBER_END}"
    r"|([\[\](){},:])"  # 2: punctuation
    rf"|({_INT}){_NUMBER_END}"  # 3: int
    rf"|({_FLOAT}){_NUMBER_END}"  # 4: float
    rf"|({_STR})"  # 5: str
    rf"|({_BYTES})"  # 6: bytes
    r"|(True|False|None)(?![0-9A-Za-z_])"  # 7: keyword
    r"|([^ \t\n]))"  # 8: anything else
)
_KEYWORDS = {"True": True, "False": False, "None": None}
_OPENERS = frozenset("[({")
_CLOSERS = {"]": "[", ")": "(", "}": "{"}
_UNKNOWN, _DICT, _SET = 0, 1, 2  # what a "{" turns out to be

# parser states
_VALUE = 0  # a value must come (document start, after ':')
_VALUE_OR_CLOSE = 1  # after an opening bracket or a comma
_AFTER_VALUE = 2  # a separator or a closing bracket must come


def fast_loads(text: str) -> Any:
    """``ast.literal_eval(text)`` for simple serpent documents; NotSimple for anything else."""
    if text.startswith("#"):
        end = text.find("\n")
        if end < 0 or "\r" in text[:end] or "\x00" in text[:end]:
            raise NotSimple("header")
        text = text[end + 1 :]
        if text[:1] in (" ", "\t"):  # an indented line after the header: Python refuses it
            raise NotSimple("indent")
    if "\n" in text:  # line structure (indents, line ends) is Python's business: not simple
        raise NotSimple("newline")
    stack: list[list[Any]] = []  # open containers: [opener, items, has_comma, dict_mode]
    items: list[Any] | None = None  # items of the innermost open container
    top: list[Any] = []  # the document's single value, once read
    state = _VALUE
    for ints, punct, integer, floating, string, binary, keyword, other in _TOKEN.findall(text):
        if ints:  # only ever right after an opening bracket (see _TOKEN)
            items.extend(map(int, ints.split(",")))  # type: ignore[union-attr]
            stack[-1][2] = True  # has commas: (1, 2) is a tuple
            state = _AFTER_VALUE
            continue
        if punct:
            if punct in _OPENERS:
                if state == _AFTER_VALUE:
                    raise NotSimple("two values without a separator")
                if len(stack) >= MAX_DEPTH:
                    raise NotSimple("nested too deep")
                items = []
                stack.append([punct, items, False, _UNKNOWN])
                state = _VALUE_OR_CLOSE
                continue
            if not stack:
                raise NotSimple(f"{punct!r} outside brackets")
            frame = stack[-1]
            opener = frame[0]
            if punct == ",":
                if state != _AFTER_VALUE:
                    raise NotSimple("a value is missing")
                if opener == "{":
                    if frame[3] == _UNKNOWN:
                        frame[3] = _SET
                    elif frame[3] == _DICT and len(frame[1]) % 2:
                        raise NotSimple("dict key without value")
                frame[2] = True
                state = _VALUE_OR_CLOSE
                continue
            if punct == ":":
                count = len(frame[1])
                if state != _AFTER_VALUE or opener != "{":
                    raise NotSimple("misplaced ':'")
                if frame[3] == _UNKNOWN and count == 1:
                    frame[3] = _DICT
                elif frame[3] != _DICT or not count % 2:
                    raise NotSimple("misplaced ':'")
                state = _VALUE
                continue
            # a closing bracket
            if state == _VALUE or _CLOSERS[punct] != opener:
                raise NotSimple("mismatched brackets")
            stack.pop()
            content = frame[1]
            if opener == "[":
                value: Any = content
            elif opener == "(":
                value = tuple(content) if frame[2] or not content else content[0]  # (x) is x
            elif frame[3] == _DICT:
                if len(content) % 2:
                    raise NotSimple("dict key without value")
                value = dict(zip(content[::2], content[1::2], strict=True))
            else:
                value = set(content) if content else {}
            items = stack[-1][1] if stack else None
        elif state == _AFTER_VALUE:
            raise NotSimple("two values without a separator")
        elif integer:
            value = int(integer)
        elif string:
            value = string[1:-1]
        elif floating:
            value = float(floating)
        elif keyword:
            value = _KEYWORDS[keyword]
        elif binary:
            value = binary[2:-1].encode("ascii")
        else:
            raise NotSimple(f"unexpected {other!r}")
        if items is None:
            if top:
                raise NotSimple("more than one value")
            top.append(value)
        else:
            items.append(value)
        state = _AFTER_VALUE
    if stack or not top:
        raise NotSimple("incomplete")
    return top[0]
