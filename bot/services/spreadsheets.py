"""Reading CSV and XLSX files into plain tables of text cells, with their line numbers."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time
from xml.etree import ElementTree
from xml.parsers import expat

from bot.i18n import N_

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
MAX_CELL_CHARS = 2000


@dataclass(frozen=True)
class Problem:
    """One reason an import is refused, with where; the message is translated when shown."""

    source: str
    line: int | None
    message: str  # an untranslated msgid, formatted with params after translation
    params: tuple[tuple[str, str], ...] = ()

    def render(self, gettext: object = None) -> str:
        translate = gettext if callable(gettext) else (lambda s: s)
        text = translate(self.message).format(**dict(self.params))
        if self.line is None:
            return f"{self.source}: {text}"
        where = translate(N_("line {line}")).format(line=self.line)
        return f"{self.source}, {where}: {text}"


def problem(source: str, line: int | None, message: str, **params: object) -> Problem:
    return Problem(source, line, message, tuple((k, str(v)) for k, v in params.items()))


class FileProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.render())
        self.problem = problem


@dataclass(frozen=True)
class Table:
    source: str  # file name, or "file.xlsx [sheet]"
    header: tuple[str, ...]  # lower-cased, stripped
    rows: tuple[tuple[int, dict[str, str]], ...]  # (line number, column -> text)


async def read_tables_off_loop(filename: str, content: bytes) -> list[Table]:
    """read_tables in a worker thread: parsing a workbook must never block the bot's loop.
    Every limit is checked before the expensive part, so the thread's work is bounded too."""
    return await asyncio.to_thread(read_tables, filename, content)


def read_tables(filename: str, content: bytes) -> list[Table]:
    """Reads a CSV or XLSX file. Raises FileProblem for what cannot be read at all."""
    if len(content) > MAX_FILE_BYTES:
        raise FileProblem(
            problem(
                filename,
                None,
                N_("the file is too large ({size} KB); the limit is {limit} KB"),
                size=len(content) // 1024,
                limit=MAX_FILE_BYTES // 1024,
            )
        )
    lower = filename.lower()
    if lower.endswith(".xlsx") or content[:4] == b"PK\x03\x04":
        return _read_xlsx(filename, content)
    if lower.endswith((".csv", ".txt")) or not lower.rpartition(".")[1]:
        return [_read_csv(filename, content)]
    raise FileProblem(
        problem(filename, None, N_("unsupported file type; send a .csv or .xlsx file"))
    )


def _read_csv(filename: str, content: bytes) -> Table:
    if b"\x00" in content[:4096]:
        raise FileProblem(
            problem(filename, None, N_("this is not a text file; send a .csv or .xlsx file"))
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileProblem(
            problem(
                filename,
                None,
                N_("the file is not UTF-8 text; save it as \u201cCSV UTF-8\u201d and try again"),
            )
        ) from None
    first_line = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header_cells = next(reader, None)
        if not header_cells or not any(c.strip() for c in header_cells):
            raise FileProblem(problem(filename, None, N_("the file is empty")))
        header = tuple(_clean(c).lower() for c in header_cells)
        rows = []
        line = reader.line_num + 1
        for cells in reader:
            if len(rows) >= MAX_ROWS:
                raise FileProblem(
                    problem(
                        filename, None, N_("too many rows; the limit is {limit}"), limit=MAX_ROWS
                    )
                )
            if any(c.strip() for c in cells):
                rows.append((line, _row(header, cells)))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise FileProblem(
            problem(filename, reader.line_num, N_("malformed CSV: {error}"), error=exc)
        ) from None
    return Table(filename, header, tuple(rows))


# An XLSX file is a ZIP of XML parts. Everything below is checked from the ZIP directory and
# a streaming pass over the sheets' XML before openpyxl reads a cell, so that a small hostile
# file (a ZIP bomb, a shared-strings bomb, a cell at column XFD, millions of empty rows) is
# refused in bounded time and memory. The ZIP reader never inflates a part beyond the size the
# directory declares (a lie fails the CRC), so the declared sizes are a safe bound.
MAX_UNPACKED_BYTES = 16 * 1024 * 1024  # all parts together, uncompressed
MAX_COMPRESSION_RATIO = 100  # uncompressed : compressed, for parts larger than 1 MB
MAX_SHEET_ROWS = 2 * MAX_ROWS + 1  # row numbers a sheet may reach (blank rows count)
MAX_COLUMNS = 100  # the widest import table has about 30 columns
_CELL_REF = re.compile(r"([A-Z]{1,3})([0-9]*)")


def _not_xlsx(filename: str, message: str, **params: object) -> FileProblem:
    return FileProblem(problem(filename, None, message, **params))


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _sheet_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part name -> the sheet's title, read from the workbook and its relations."""
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, OSError):
        return {}
    targets = {r.get("Id"): r.get("Target", "") for r in rels if _local(r.tag) == "Relationship"}
    names = {}
    for sheet in workbook.iter():
        if _local(sheet.tag) != "sheet":
            continue
        rel = next((v for k, v in sheet.attrib.items() if _local(k) == "id"), None)
        target = targets.get(rel, "")
        part = target.lstrip("/") if target.startswith("/") else "xl/" + target
        names[part] = sheet.get("name", part)
    return names


def _check_archive(filename: str, content: bytes) -> None:
    """Refuses what would be too costly to read, before anything is inflated."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _not_xlsx(
            filename, N_("this is not a valid .xlsx workbook: it is not a ZIP archive")
        ) from None
    with archive:
        infos = archive.infolist()
        unpacked = sum(i.file_size for i in infos)
        if unpacked > MAX_UNPACKED_BYTES:
            raise _not_xlsx(
                filename,
                N_("the file unpacks to {size} MB; the limit is {limit} MB"),
                size=unpacked // (1024 * 1024),
                limit=MAX_UNPACKED_BYTES // (1024 * 1024),
            )
        for info in infos:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > 1024 * 1024 and ratio > MAX_COMPRESSION_RATIO:
                raise _not_xlsx(
                    filename,
                    N_("this is not a valid .xlsx workbook: {part} is compressed {ratio} times"),
                    part=info.filename,
                    ratio=int(ratio),
                )
        names = {i.filename for i in infos}
        for required in ("[Content_Types].xml", "xl/workbook.xml"):
            if required not in names:
                raise _not_xlsx(
                    filename,
                    N_("this is not a valid .xlsx workbook: {part} is missing"),
                    part=required,
                )
        titles = _sheet_names(archive)
        for info in infos:
            if info.filename.endswith((".xml", ".rels")):
                _check_part(filename, archive, info.filename, titles)


def _check_part(
    filename: str, archive: zipfile.ZipFile, part: str, titles: dict[str, str]
) -> None:
    """One streaming pass that builds no tree: the part is well-formed XML, and a worksheet
    stays within the row and column limits (its declared dimension and its actual cells)."""
    sheet = titles.get(part, part)
    parser = expat.ParserCreate()
    rows = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal rows
        tag = name.rpartition(":")[2]
        if tag == "c":
            _check_reference(filename, sheet, attributes.get("r", ""))
        elif tag == "row":
            number = attributes.get("r", "")
            rows = max(rows + 1, int(number) if number.isdigit() else 0)
            if rows > MAX_SHEET_ROWS:
                raise _too_many_rows(filename, sheet, rows)
        elif tag == "dimension":
            _check_reference(filename, sheet, attributes.get("ref", "").split(":")[-1])

    if part.startswith("xl/worksheets/"):
        parser.StartElementHandler = start
    try:
        with archive.open(part) as stream:
            while chunk := stream.read(64 * 1024):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise _not_xlsx(
            filename,
            N_("this is not a valid .xlsx workbook: {part} is broken at line {number}:{column}"),
            part=part,
            number=exc.lineno,
            column=exc.offset + 1,
        ) from None
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error):
        raise _not_xlsx(
            filename, N_("this is not a valid .xlsx workbook: {part} is damaged"), part=part
        ) from None


def _check_reference(filename: str, sheet: str, reference: str) -> None:
    match = _CELL_REF.fullmatch(reference.upper())
    if match is None:
        return
    letters, row = match[1], match[2]
    if _column_number(letters) > MAX_COLUMNS:
        raise _not_xlsx(
            filename,
            N_("the sheet “{sheet}” has a cell in column {column}; the limit is {limit} columns"),
            sheet=sheet,
            column=letters,
            limit=MAX_COLUMNS,
        )
    if row and int(row) > MAX_SHEET_ROWS:
        raise _too_many_rows(filename, sheet, int(row))


def _too_many_rows(filename: str, sheet: str, rows: int) -> FileProblem:
    return _not_xlsx(
        filename,
        N_("the sheet “{sheet}” reaches row {row}; the limit is {limit} rows"),
        sheet=sheet,
        row=rows,
        limit=MAX_SHEET_ROWS,
    )


def _read_xlsx(filename: str, content: bytes) -> list[Table]:
    from openpyxl import load_workbook  # imported lazily: only imports need it

    _check_archive(filename, content)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        OSError,
        TypeError,
        OverflowError,
        ElementTree.ParseError,
    ):
        raise FileProblem(
            problem(filename, None, N_("this is not a valid .xlsx workbook"))
        ) from None
    tables = []
    try:
        for sheet in workbook.worksheets:
            source = f"{filename} [{sheet.title}]"
            # Explicit bounds: openpyxl would otherwise pad every row to the declared width.
            rows_iter = sheet.iter_rows(
                max_row=MAX_SHEET_ROWS, max_col=MAX_COLUMNS, values_only=True
            )
            header_cells = next(rows_iter, None)
            if not header_cells or not any(_cell(c) for c in header_cells):
                continue  # empty sheets are allowed (a workbook often has a spare one)
            header = tuple(_cell(c).lower() for c in header_cells)
            rows = []
            for number, cells in enumerate(rows_iter, start=2):
                texts = [_cell(c) for c in cells]
                if any(texts):
                    if len(rows) >= MAX_ROWS:
                        raise FileProblem(
                            problem(
                                source,
                                None,
                                N_("too many rows; the limit is {limit}"),
                                limit=MAX_ROWS,
                            )
                        )
                    rows.append((number, _row(header, texts)))
            tables.append(Table(source, header, tuple(rows)))
    except (
        KeyError,
        ValueError,
        TypeError,
        OverflowError,
        ElementTree.ParseError,
        zipfile.BadZipFile,
    ):
        raise FileProblem(
            problem(filename, None, N_("this is not a valid .xlsx workbook"))
        ) from None
    finally:
        workbook.close()
    if not tables:
        raise FileProblem(problem(filename, None, N_("the file is empty")))
    return tables


def _row(header: tuple[str, ...], cells: list[str]) -> dict[str, str]:
    row = {}
    for i, name in enumerate(header):
        if name:
            row[name] = _clean(cells[i]) if i < len(cells) else ""
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
        row["\x00extra"] = "1"  # more cells than header columns: reported by the validator
    return row


def _clean(value: str) -> str:
    text = value.replace("\ufeff", "").replace("\u00a0", " ").strip()
    return text[: MAX_CELL_CHARS + 1]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _clean(str(value))
