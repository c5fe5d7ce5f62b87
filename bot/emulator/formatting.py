"""Turn text in Telegram's parse modes into plain text plus message entities.

The real Bot API rejects malformed markup with ``400 Bad Request: can't parse entities: ...``.
Bots most often trip over this when user input (a name like ``<3 Anna``, a price ``9.99``) is
interpolated into an HTML or MarkdownV2 template without escaping. Reproducing those rejections
here makes such bugs fail in tests instead of in production, and rendering the markup lets tests
assert on what the user actually reads. The rules follow tdlib's parsers closely enough for that
purpose; error wording mirrors Telegram's but is not guaranteed byte-identical.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Entity = dict[str, Any]


class EntityParseError(ValueError):
    """Markup Telegram would refuse; the message is what follows ``can't parse entities:``."""


class UnsupportedParseModeError(ValueError):
    """A parse_mode Telegram does not know (Telegram answers ``unsupported parse_mode``)."""


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units, not code points."""
    return len(text.encode("utf-16-le")) // 2


def parse_text(
    text: str, parse_mode: str | None, users: Mapping[int, dict[str, Any]] | None = None
) -> tuple[str, list[Entity]]:
    """Render ``text`` for ``parse_mode`` into ``(plain_text, entities)``.

    ``users`` lets ``tg://user?id=`` links become ``text_mention`` entities, as Telegram does for
    users the bot knows.
    """
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return _HtmlParser(text, users or {}).parse()
    if mode == "markdownv2":
        return _MarkdownV2Parser(text).parse()
    if mode == "markdown":
        return _parse_legacy_markdown(text)
    raise UnsupportedParseModeError(parse_mode)


def _byte_offset(text: str, index: int) -> int:
    """Telegram reports parse errors at UTF-8 byte offsets of the original text."""
    return len(text[:index].encode("utf-8"))


class _Output:
    """Accumulates rendered text and tracks the current UTF-16 offset for entities."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.offset = 0
        self.entities: list[Entity] = []

    def add(self, chunk: str) -> None:
        self._parts.append(chunk)
        self.offset += utf16_len(chunk)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        """Record an entity from ``start`` to the current offset; empty ones are dropped."""
        if self.offset > start:
            self.entities.append({"type": kind, "offset": start, "length": self.offset - start})
            self.entities[-1].update(extra)

    def result(self) -> tuple[str, list[Entity]]:
        ordered = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self._parts), ordered


# --------------------------------------------------------------------------------------- HTML

_HTML_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_RE = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);")
_TG_USER_LINK_RE = re.compile(r"tg://user\?id=(\d+)")


@dataclass
class _OpenTag:
    name: str
    start: int
    attrs: dict[str, str]
    language: str | None = None


@dataclass
class _HtmlParser:
    text: str
    users: Mapping[int, dict[str, Any]]
    out: _Output = field(default_factory=_Output)
    stack: list[_OpenTag] = field(default_factory=list)

    def parse(self) -> tuple[str, list[Entity]]:
        text, i = self.text, 0
        while i < len(text):
            char = text[i]
            if char == "&":
                decoded, consumed = _decode_html_entity(text, i)
                self.out.add(decoded)
                i += consumed
            elif char == "<":
                i = self._end_tag(i) if text.startswith("</", i) else self._start_tag(i)
            else:
                stop = min(
                    (p for p in (text.find("<", i), text.find("&", i)) if p >= 0), default=-1
                )
                stop = len(text) if stop < 0 else stop
                self.out.add(text[i:stop])
                i = stop
        if self.stack:
            name = self.stack[-1].name
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{name}"')
        return self.out.result()

    def _error_at(self, index: int, message: str) -> EntityParseError:
        return EntityParseError(f"{message} at byte offset {_byte_offset(self.text, index)}")

    def _start_tag(self, begin: int) -> int:
        text, i = self.text, begin + 1
        while i < len(text) and not text[i].isspace() and text[i] != ">":
            i += 1
        if i >= len(text):
            raise self._error_at(begin, "Unclosed start tag")
        name = text[begin + 1 : i].lower()
        if name not in _HTML_TAG_TYPES:
            raise self._error_at(begin, f'Unsupported start tag "{name}"')
        attrs, i = self._attributes(begin, i, name)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError('Tag "span" must have class "tg-spoiler"')
        self.stack.append(_OpenTag(name, self.out.offset, attrs))
        return i + 1

    def _attributes(self, begin: int, i: int, tag: str) -> tuple[dict[str, str], int]:
        """Parse ``name="value"`` pairs up to the closing ``>``; returns its index."""
        text, attrs = self.text, {}
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                raise self._error_at(begin, "Unclosed start tag")
            if text[i] == ">":
                return attrs, i
            name_end = i
            while name_end < len(text) and (text[name_end].isalnum() or text[name_end] in "-_"):
                name_end += 1
            if name_end == i:
                raise self._error_at(begin, f'Empty attribute name in the tag "{tag}"')
            name, i = text[i:name_end].lower(), name_end
            while i < len(text) and text[i].isspace():
                i += 1
            value = ""
            if i < len(text) and text[i] == "=":
                value, i = self._attribute_value(begin, i + 1)
            attrs[name] = value

    def _attribute_value(self, begin: int, i: int) -> tuple[str, int]:
        text = self.text
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            raise self._error_at(begin, "Unclosed start tag")
        if text[i] in "'\"":
            end = text.find(text[i], i + 1)
            if end < 0:
                raise self._error_at(begin, "Unclosed start tag")
            return _unescape_html(text[i + 1 : end]), end + 1
        end = i
        while end < len(text) and not text[end].isspace() and text[end] != ">":
            end += 1
        return _unescape_html(text[i:end]), end

    def _end_tag(self, begin: int) -> int:
        end = self.text.find(">", begin)
        if end < 0:
            raise self._error_at(begin, "Unclosed end tag")
        name = self.text[begin + 2 : end].strip().lower()
        if not self.stack:
            raise self._error_at(begin, "Unexpected end tag")
        tag = self.stack.pop()
        if name != tag.name:
            at = _byte_offset(self.text, begin)
            raise EntityParseError(
                f'Unmatched end tag at byte offset {at}, expected "</{tag.name}>", '
                f'found "</{name}>"'
            )
        self._close(tag)
        return end + 1

    def _close(self, tag: _OpenTag) -> None:
        kind = _HTML_TAG_TYPES[tag.name]
        if tag.name == "a":
            href = tag.attrs.get("href", "")
            match = _TG_USER_LINK_RE.fullmatch(href)
            if match and int(match[1]) in self.users:
                self.out.entity("text_mention", tag.start, user=self.users[int(match[1])])
            elif href:
                self.out.entity("text_link", tag.start, url=href)
        elif tag.name == "code" and self.stack and self.stack[-1].name == "pre":
            css_class = tag.attrs.get("class", "")
            if css_class.startswith("language-"):
                self.stack[-1].language = css_class.removeprefix("language-")
        elif tag.name == "pre":
            extra = {"language": tag.language} if tag.language else {}
            self.out.entity("pre", tag.start, **extra)
        elif tag.name == "blockquote":
            expandable = "expandable" in tag.attrs
            self.out.entity("expandable_blockquote" if expandable else "blockquote", tag.start)
        elif tag.name == "tg-emoji":
            if emoji_id := tag.attrs.get("emoji-id"):
                self.out.entity("custom_emoji", tag.start, custom_emoji_id=emoji_id)
        else:
            self.out.entity(kind, tag.start)


def _decode_html_entity(text: str, index: int) -> tuple[str, int]:
    """Decode the entity at ``text[index] == '&'``; unknown ones stay literal like on Telegram."""
    match = _HTML_ENTITY_RE.match(text, index)
    if match is None:
        return "&", 1
    body = match[1]
    if body.startswith("#"):
        code = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), match.end() - index
        return "&", 1
    if body.lower() in _HTML_NAMED_ENTITIES:
        return _HTML_NAMED_ENTITIES[body.lower()], match.end() - index
    return "&", 1


def _unescape_html(value: str) -> str:
    parts, i = [], 0
    while i < len(value):
        if value[i] == "&":
            decoded, consumed = _decode_html_entity(value, i)
            parts.append(decoded)
            i += consumed
        else:
            parts.append(value[i])
            i += 1
    return "".join(parts)


# --------------------------------------------------------------------------------- MarkdownV2

_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_ENTITY_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
_CUSTOM_EMOJI_URL_RE = re.compile(r"tg://emoji\?id=(\d+)")


@dataclass
class _MdEntity:
    kind: str
    start: int
    source_index: int
    language: str | None = None


@dataclass
class _MarkdownV2Parser:
    text: str
    out: _Output = field(default_factory=_Output)
    stack: list[_MdEntity] = field(default_factory=list)
    quote_start: int | None = None
    quote_line_end: int = 0

    def parse(self) -> tuple[str, list[Entity]]:
        text, i = self.text, 0
        while i < len(text):
            char, following = text[i], text[i + 1 : i + 2]
            if (i == 0 or text[i - 1] == "\n") and not self._in_code():
                if char == ">":
                    if self.quote_start is None:
                        self.quote_start = self.out.offset
                    i += 1
                    continue
                self._close_quote()
            if char == "\\" and following and 0 < ord(following) <= 126:
                self._add_char(following)
                i += 2
                continue
            reserved = frozenset("`") if self._in_code() else _MDV2_RESERVED
            if char not in reserved:
                self._add_char(char)
                i += 1
                continue
            i = self._close_entity(i) if self._ends_entity(i) else self._open_entity(i)
        if self.stack:
            entity = self.stack[-1]
            name = _MDV2_ENTITY_NAMES[entity.kind]
            at = _byte_offset(text, entity.source_index)
            raise EntityParseError(f"Can't find end of {name} entity at byte offset {at}")
        self.quote_line_end = self.out.offset
        self._close_quote()
        return self.out.result()

    def _add_char(self, char: str) -> None:
        if char == "\n" and self.quote_start is not None:
            self.quote_line_end = self.out.offset
        self.out.add(char)

    def _in_code(self) -> bool:
        return bool(self.stack) and self.stack[-1].kind in ("code", "pre")

    def _close_quote(self) -> None:
        if self.quote_start is not None:
            length = self.quote_line_end - self.quote_start
            if length > 0:
                self.out.entities.append(
                    {"type": "blockquote", "offset": self.quote_start, "length": length}
                )
            self.quote_start = None

    def _ends_entity(self, i: int) -> bool:
        if not self.stack:
            return False
        text, char = self.text, self.text[i]
        following = text[i + 1 : i + 2]
        return {
            "bold": char == "*",
            "italic": char == "_" and following != "_",
            "underline": text.startswith("__", i),
            "strikethrough": char == "~",
            "spoiler": text.startswith("||", i),
            "code": char == "`",
            "pre": text.startswith("```", i),
            "text_link": char == "]",
            "custom_emoji": char == "]",
        }[self.stack[-1].kind]

    def _open_entity(self, i: int) -> int:
        text, char = self.text, self.text[i]
        start = i
        if char == "_" and text.startswith("__", i):
            kind, i = "underline", i + 2
        elif char in "_*~[":
            kind = {"_": "italic", "*": "bold", "~": "strikethrough", "[": "text_link"}[char]
            i += 1
        elif char == "|" and text.startswith("||", i):
            kind, i = "spoiler", i + 2
        elif char == "!" and text.startswith("![", i):
            kind, i = "custom_emoji", i + 2
        elif char == "`" and text.startswith("```", i):
            return self._open_pre(i)
        elif char == "`":
            kind, i = "code", i + 1
        else:
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        self.stack.append(_MdEntity(kind, self.out.offset, start))
        return i

    def _open_pre(self, begin: int) -> int:
        text, i = self.text, begin + 3
        language_end = i
        while language_end < len(text) and not text[language_end].isspace():
            if text[language_end] == "`":
                break
            language_end += 1
        language = None
        if language_end > i and language_end < len(text) and text[language_end] != "`":
            language, i = text[i:language_end], language_end
        if i < len(text) and text[i] in "\r\n":
            i += 1
        self.stack.append(_MdEntity("pre", self.out.offset, begin, language))
        return i

    def _close_entity(self, i: int) -> int:
        entity = self.stack.pop()
        if entity.kind in ("underline", "spoiler"):
            i += 2
        elif entity.kind == "pre":
            extra = {"language": entity.language} if entity.language else {}
            self.out.entity("pre", entity.start, **extra)
            return i + 3
        else:
            i += 1
        if entity.kind in ("text_link", "custom_emoji"):
            url, i = self._link_target(i)
            if entity.kind == "custom_emoji":
                match = _CUSTOM_EMOJI_URL_RE.fullmatch(url or "")
                if match is None:
                    raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                self.out.entity("custom_emoji", entity.start, custom_emoji_id=match[1])
            elif url:
                self.out.entity("text_link", entity.start, url=url)
            return i
        self.out.entity(entity.kind, entity.start)
        return i

    def _link_target(self, i: int) -> tuple[str | None, int]:
        """Read ``(url)`` after ``]``; inside it only ``)`` and ``\\`` need escaping."""
        text = self.text
        if not text.startswith("(", i):
            return None, i
        begin, i, url = i, i + 1, []
        while i < len(text) and text[i] != ")":
            if text[i] == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) <= 126:
                i += 1
            url.append(text[i])
            i += 1
        if i >= len(text):
            at = _byte_offset(text, begin)
            raise EntityParseError(f"Can't find end of a URL at byte offset {at}")
        return "".join(url), i + 1


# --------------------------------------------------------------------------- legacy Markdown

_LEGACY_MARKERS = "_*`["


def _parse_legacy_markdown(text: str) -> tuple[str, list[Entity]]:
    """Telegram's original Markdown: no nesting, only ``_*`[`` are special."""
    out, i = _Output(), 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] in tuple(_LEGACY_MARKERS):
            out.add(text[i + 1])
            i += 2
            continue
        if char not in _LEGACY_MARKERS:
            out.add(char)
            i += 1
            continue
        begin = i
        is_pre = text.startswith("```", i)
        closing = "```" if is_pre else ("]" if char == "[" else char)
        i += len(closing) if is_pre else 1
        end = text.find(closing, i)
        if end < 0:
            at = _byte_offset(text, begin)
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {at}")
        start = out.offset
        out.add(text[i:end].removeprefix("\n") if is_pre else text[i:end])
        i = end + len(closing)
        if char == "[":
            if text.startswith("(", i) and (url_end := text.find(")", i)) >= 0:
                out.entity("text_link", start, url=text[i + 1 : url_end])
                i = url_end + 1
        else:
            out.entity({"_": "italic", "*": "bold", "`": "pre" if is_pre else "code"}[char], start)
    return out.result()
