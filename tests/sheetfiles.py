"""Real spreadsheet files for tests and benchmarks: XLSX made by openpyxl, CSV by the csv module,
and hostile files (a zip bomb disguised as XLSX, formulas, huge cells, too many rows)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook

from services.recommendations.importing import COLUMNS


def xlsx(rows: Sequence[Sequence[Any]], header: Sequence[str] = COLUMNS) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("sheet")
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_file(rows: Sequence[Sequence[Any]], header: Sequence[str] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def recommendation_rows(count: int, city: str = "leipzig", prefix: str = "Recommendation") -> list[list[str]]:
    dimensions = ("setting", "objectives", "processes")
    return [
        [
            f"{prefix} {i}",
            f"What {city} should do, number {i}: share the cluster's facilities with start-ups.",
            dimensions[i % 3],
            city,
            "2030-06-30",
            ("high", "medium", "low")[i % 3],
            "imported; test",
            "",
        ]
        for i in range(1, count + 1)
    ]


def zip_bomb(inflated_bytes: int = 200_000_000) -> bytes:
    """A zip that starts like an XLSX and whose sheet inflates to `inflated_bytes` of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = b"\0" * 1_000_000
            for _ in range(inflated_bytes // len(chunk)):
                member.write(chunk)
    return out.getvalue()


def formula_xlsx() -> bytes:
    """A sheet whose B2 is a formula (openpyxl writes a string starting with "=" as one)."""
    return xlsx([["Open labs", '=HYPERLINK("http://127.0.0.1/x","click")', "setting"]], ["title", "text", "dimension"])
