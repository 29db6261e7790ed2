"""shared/platform/sheets.py without services: reading bounds, hostile files, neutralised exports."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from shared.platform.sheets import MAX_CELL_CHARS, SheetRefused, neutralise, read_table, unneutralise, write_csv, write_xlsx
from tests.sheetfiles import csv_file, formula_xlsx, xlsx, zip_bomb

HOSTILE = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


@pytest.mark.parametrize("value", HOSTILE)
def test_neutralise_escapes_every_formula_trigger_and_round_trips(value: str) -> None:
    assert neutralise(value) == "'" + value
    assert unneutralise(neutralise(value)) == value


def test_neutralise_leaves_plain_values_alone() -> None:
    assert [neutralise(v) for v in ("Leipzig", "", 3, 2.5, None, "it's")] == ["Leipzig", "", 3, 2.5, None, "it's"]
    assert unneutralise("'quoted") == "'quoted"  # an apostrophe we did not add stays


def test_csv_export_is_neutralised() -> None:
    rows = list(csv.reader(io.StringIO(write_csv(["a", "b"], [["=1+2", "ok"], ["-3", 4]]))))
    assert rows == [["a", "b"], ["'=1+2", "ok"], ["'-3", "4"]]


def test_xlsx_export_holds_no_formula_and_is_neutralised() -> None:
    body = write_xlsx(["a", "b"], [["=1+2", "@x"], ["plain", 5]])
    sheet = load_workbook(io.BytesIO(body)).worksheets[0]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [["a", "b"], ["'=1+2", "'@x"], ["plain", 5]]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_xlsx_and_csv_read_alike_with_row_numbers_and_normalised_header() -> None:
    rows = [["T", "x", "setting"], ["", "", ""], ["U", "y", "processes"]]
    for body in (xlsx(rows, ["Title", " Text ", "DIMENSION"]), csv_file(rows, ["Title", " Text ", "DIMENSION"])):
        table = read_table(body)
        assert table.header == ["title", "text", "dimension"]
        assert table.records()[0] == {"title": "T", "text": "x", "dimension": "setting"}
        assert table.first_row == 2 and len(table.rows) == 3


def test_semicolon_csv_is_sniffed() -> None:
    assert read_table(b"title;text\nA;B\n").records() == [{"title": "A", "text": "B"}]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"%PDF-1.7 not a sheet", "not a spreadsheet"),
        (b"\x89PNG\r\n\x1a\n....", "not a spreadsheet"),
        ("title\n\xe9".encode("latin-1"), "UTF-8"),
        (b"PK\x03\x04garbage", "not a valid zip"),
    ],
)
def test_not_a_spreadsheet_is_refused(body: bytes, says: str) -> None:
    with pytest.raises(SheetRefused, match=says):
        read_table(body, "upload.xlsx")


def test_zip_bomb_is_refused_from_the_zip_directory() -> None:
    with pytest.raises(SheetRefused, match="zip bomb"):
        read_table(zip_bomb())


def test_formulas_are_refused_with_their_cell() -> None:
    with pytest.raises(SheetRefused, match="cell B2 holds a formula"):
        read_table(formula_xlsx())


def test_too_many_rows_are_refused_in_both_formats() -> None:
    rows = [["t", "x", "setting"]] * 101
    for body in (xlsx(rows), csv_file(rows)):
        with pytest.raises(SheetRefused, match="more than 100 data rows"):
            read_table(body, max_rows=100)
        assert len(read_table(body, max_rows=101).rows) == 101


def test_huge_cells_are_refused() -> None:
    huge = "x" * (MAX_CELL_CHARS + 1)
    for body in (xlsx([["t", huge, "setting"]]), csv_file([["t", huge, "setting"]])):
        with pytest.raises(SheetRefused, match="row 2, column text"):
            read_table(body)
    with pytest.raises(SheetRefused, match="cannot be read"):
        read_table(csv_file([["t", "y" * 200_000, "setting"]]))  # over the csv module's own field limit
