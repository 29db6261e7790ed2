"""Spreadsheets in and out: read an uploaded XLSX or CSV safely, write CSV and XLSX safely.

Framework-free (no FastAPI, no database): the services' import rules and endpoints build on it.

Reading refuses hostile files with `SheetRefused` (problem+json 422) *before* anything is written:
- not a spreadsheet (neither an XLSX zip nor UTF-8 text);
- a zip bomb disguised as XLSX: the uncompressed sizes declared in the zip directory are checked
  before openpyxl opens the file (Python's zipfile never inflates a member beyond its declared
  size, so the declared sizes bound what can be read);
- too many rows (reading stops at the bound), too many columns, cells that are too long;
- formulas: an imported sheet must hold values, not formulas (a formula's value is whatever the
  last program that saved it computed, if anything), so a formula cell is refused with its
  address.

Writing neutralises formula injection (`neutralise`): this is the one place where it is done,
for every CSV and XLSX the product exports.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shared.platform.errors import Invalid

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 10_000  # data rows of one upload; more is refused (bigger imports: split the file)
MAX_COLUMNS = 40
MAX_CELL_CHARS = 20_000  # the longest text field of any import (a recommendation's text)
MAX_UNCOMPRESSED_BYTES = 50_000_000  # what all members of an XLSX zip may inflate to, together
MAX_COMPRESSION_RATIO = 200  # a real XLSX compresses 5-20x; a bomb 1000x and more
# A cell starting with one of these is read as a formula by Excel, LibreOffice or Google Sheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowError:
    """What is wrong in a sheet: its row (numbered as the person sees it) and, when known, column."""

    row: int
    column: str | None
    detail: str


def errors_json(errors: Iterable[RowError]) -> list[dict[str, Any]]:
    """Row errors as previews and refusals list them: in row order."""
    return [{"row": e.row, "column": e.column, "detail": e.detail} for e in sorted(errors, key=lambda e: e.row)]


class SheetRefused(Invalid):
    """The upload is not a spreadsheet we read, or is hostile: refused as a whole, nothing written."""

    title = "Spreadsheet refused"


@dataclass
class Table:
    """An uploaded sheet: its header (normalised names) and its data rows as text cells.

    `rows[i]` is the sheet's row `first_row + i` (the header is row `first_row - 1`), so errors
    name the row a person sees in their spreadsheet program.
    """

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    first_row: int = 2

    def records(self) -> list[dict[str, str]]:
        """Each row as {column: text}, missing trailing cells as ""."""
        return [{name: (row[i] if i < len(row) else "") for i, name in enumerate(self.header) if name} for row in self.rows]


def neutralise(value: Any) -> Any:
    """Escape a text cell that a spreadsheet program would run as a formula (CSV/formula injection).

    A leading apostrophe makes Excel, LibreOffice and Google Sheets show the text as text; numbers
    and dates pass unchanged. `unneutralise` takes the apostrophe off again on import.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def unneutralise(text: str) -> str:
    """Undo `neutralise` for a cell read back from one of our own exports."""
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def parse_date(text: str) -> date | None:
    """A date as people type it in a sheet: ISO (YYYY-MM-DD) or European (DD/MM/YYYY, DD.MM.YYYY)."""
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def header_name(text: str) -> str:
    """`Target city ` → `target_city`: header cells are matched case- and spacing-insensitively."""
    return "_".join(text.strip().lower().replace("-", " ").split())


# --- writing ---------------------------------------------------------------------------------------
def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, bool | int | float):
        return value
    return str(value)  # UUIDs, enums and the like: as the API writes them


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralise(_cell(v)) for v in row])
    return out.getvalue()


def write_xlsx(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "Sheet1") -> bytes:
    """An XLSX with one sheet; every cell is written as a value (a string is never a formula)."""
    from openpyxl import Workbook  # here, not at the top: see `_read_xlsx`
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    for i, name in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(12, min(40, len(name) + 4))
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_xlsx_cell(v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx_cell(value: Any) -> Any:
    value = _cell(value)
    if isinstance(value, str):
        # openpyxl stores a string starting with "=" as a formula: the apostrophe prevents that too.
        return neutralise(value)
    return value


# --- reading ---------------------------------------------------------------------------------------
def read_table(data: bytes, filename: str | None = None, *, max_rows: int = MAX_ROWS) -> Table:
    """Read an uploaded XLSX or CSV (told apart by content, not by name) into a `Table`."""
    if not data:
        raise SheetRefused("the file is empty: upload an XLSX or CSV file with a header row")
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data, max_rows)
    if data.startswith((b"\xd0\xcf\x11\xe0", b"%PDF", b"\x89PNG", b"\x1f\x8b")) or b"\x00" in data[:4096]:
        raise SheetRefused(f"{filename or 'the file'} is not a spreadsheet we read: upload XLSX (Excel 2007+) or CSV (UTF-8)")
    return _read_csv(data, max_rows)


def _read_csv(data: bytes, max_rows: int) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SheetRefused("the file is neither XLSX nor UTF-8 text: save the CSV as UTF-8 or upload XLSX") from None
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) > max_rows + 1:
                raise SheetRefused(_too_many_rows(max_rows))
    except csv.Error as exc:
        # e.g. a field over the csv module's limit (128 KiB): bounded before it reaches memory twice
        raise SheetRefused(f"the CSV cannot be read near line {reader.line_num}: {exc}") from None
    return _table(rows, max_rows)


def _read_xlsx(data: bytes, max_rows: int) -> Table:
    # openpyxl is imported on the first spreadsheet, not with the API: it is 6 MiB of every API
    # process's memory (bench row 5, target < 120 MiB) for an import or export now and then.
    from openpyxl import load_workbook

    _check_zip(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds (KeyError, InvalidFileException, XML errors)
        raise SheetRefused(f"the file looks like XLSX but cannot be read: {type(exc).__name__}") from None
    try:
        sheet = workbook.worksheets[0]
        rows: list[list[str]] = []
        for cells in sheet.iter_rows():
            if len(rows) > max_rows:  # header + max_rows data rows read: one more is too many
                raise SheetRefused(_too_many_rows(max_rows))
            row = []
            for cell in cells:
                if getattr(cell, "data_type", None) == "f":
                    raise SheetRefused(
                        f"cell {cell.coordinate} holds a formula ({str(cell.value)[:40]}): imports take values only; "
                        "copy the column and paste it back as values"
                    )
                row.append(_text(cell.value))
            rows.append(row)
    finally:
        workbook.close()
    return _table(rows, max_rows)


def _check_zip(data: bytes) -> None:
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile:
        raise SheetRefused("the file starts like XLSX but is not a valid zip archive") from None
    declared = sum(m.file_size for m in members)
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise SheetRefused(
            f"the XLSX would inflate to {declared:,} bytes (limit {MAX_UNCOMPRESSED_BYTES:,}): refused as a possible zip bomb"
        )
    for m in members:
        if m.compress_size and m.file_size / m.compress_size > MAX_COMPRESSION_RATIO and m.file_size > 1_000_000:
            raise SheetRefused(
                f"{m.filename} in the XLSX is compressed {m.file_size // m.compress_size}:1 "
                f"(at most {MAX_COMPRESSION_RATIO}:1 is accepted): refused as a possible zip bomb"
            )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _table(rows: list[list[str]], max_rows: int) -> Table:
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise SheetRefused("the file has no header row: the first row must name the columns")
    header = [header_name(c) for c in rows[0]]
    while header and not header[-1]:
        header.pop()
    if len(header) > MAX_COLUMNS:
        raise SheetRefused(f"the sheet has {len(header)} columns (at most {MAX_COLUMNS})")
    data_rows = []
    for number, row in enumerate(rows[1:], start=2):
        for column, cell in enumerate(row[: len(header)]):
            if len(cell) > MAX_CELL_CHARS:
                raise SheetRefused(
                    f"row {number}, column {header[column] or column + 1}: the cell holds {len(cell):,} characters "
                    f"(at most {MAX_CELL_CHARS:,})"
                )
        data_rows.append([unneutralise(c.strip()) for c in row[: len(header)]])
    if len(data_rows) > max_rows:
        raise SheetRefused(_too_many_rows(max_rows))
    return Table(header=header, rows=data_rows)


def _too_many_rows(max_rows: int) -> str:
    return f"the sheet has more than {max_rows:,} data rows: split it into files of at most {max_rows:,} rows"
