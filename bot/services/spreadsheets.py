"""Reading CSV and XLSX files into plain tables of text cells, with their line numbers."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time

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


def _read_xlsx(filename: str, content: bytes) -> list[Table]:
    from openpyxl import load_workbook  # imported lazily: only imports need it

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError):
        raise FileProblem(
            problem(filename, None, N_("this is not a valid .xlsx workbook"))
        ) from None
    tables = []
    try:
        for sheet in workbook.worksheets:
            source = f"{filename} [{sheet.title}]"
            rows_iter = sheet.iter_rows(values_only=True)
            header_cells = next(rows_iter, None)
            if not header_cells or not any(_cell(c) for c in header_cells):
                continue  # empty sheets are allowed (a workbook often has a spare one)
            header = tuple(_cell(c).lower() for c in header_cells)
            rows = []
            for number, cells in enumerate(rows_iter, start=2):
                if len(rows) >= MAX_ROWS:
                    raise FileProblem(
                        problem(
                            source, None, N_("too many rows; the limit is {limit}"), limit=MAX_ROWS
                        )
                    )
                texts = [_cell(c) for c in cells]
                if any(texts):
                    rows.append((number, _row(header, texts)))
            tables.append(Table(source, header, tuple(rows)))
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
