"""Evidence files on the real evaluations service (real Kafka and PostgreSQL): the type is read
from the bytes, the size is limited, and downloads follow who may see the evidence."""

from __future__ import annotations

import io
import zipfile

import pytest

from services.evaluations.config import Settings
from services.evaluations.main import create_app
from tests.integration.test_evaluations import open_followup
from tests.support import Env, running

pytestmark = pytest.mark.services
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da6364f8ff3f0005fe02fea7d6a4b50000000049454e44ae426082"
)


def docx() -> bytes:
    """A minimal Word document. Its entries carry a fixed date: a zip records each entry's time
    (to two seconds), so two calls a second apart would otherwise give different bytes."""
    out = io.BytesIO()
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        "_rels/.rels": "<Relationships/>",
        "word/document.xml": "<w:document/>",
    }
    with zipfile.ZipFile(out, "w") as z:
        for name, text in parts.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return out.getvalue()


async def test_upload_sniffs_limits_and_downloads_by_visibility(env: Env) -> None:
    app = create_app(env.settings(Settings, upload_max_bytes=50_000))
    async with running(app):
        lead, official, followup = await open_followup(env, app)
        base = f"/follow-ups/{followup['id']}/evidence"

        public_pdf = await official.post(
            f"{base}/file",
            files={"file": ("../../etc/Beschluss Stadtrat.pdf", PDF, "text/plain")},
            data={"title": "Council decision", "public": "true"},
        )
        assert public_pdf.status_code == 201, public_pdf.text
        body = public_pdf.json()
        assert body["media_type"] == "application/pdf"  # from the bytes, not the client's text/plain
        assert body["file_name"] == "Beschluss Stadtrat.pdf" and body["size_bytes"] == len(PDF)
        private_docx = await official.post(
            f"{base}/file", files={"file": ("plan", docx(), "application/octet-stream")}, data={"title": "Internal plan"}
        )
        assert private_docx.status_code == 201, private_docx.text
        assert (
            private_docx.json()["media_type"].endswith("wordprocessingml.document")
            and private_docx.json()["file_name"] == "plan.docx"
        )
        image = await official.post(f"{base}/file", files={"file": ("photo.png", PNG, "image/png")}, data={"title": "Site photo"})
        assert image.status_code == 201 and image.json()["media_type"] == "image/png"

        # a script named like a PDF, and an HTML page: refused by content
        for name, content in (("report.pdf", b"#!/bin/sh\nrm -rf /\n"), ("page.png", b"<html><script>alert(1)</script></html>")):
            refused = await official.post(f"{base}/file", files={"file": (name, content, "application/pdf")}, data={"title": "x"})
            assert refused.status_code == 415, refused.text
            assert "not an accepted type" in refused.json()["detail"]
        too_big = await official.post(
            f"{base}/file", files={"file": ("big.pdf", PDF + b"0" * 50_000, "application/pdf")}, data={"title": "big"}
        )
        assert too_big.status_code == 413
        huge = await official.post(f"{base}/file", files={"file": ("huge.pdf", PDF + b"0" * 200_000)}, data={"title": "huge"})
        assert huge.status_code == 413  # refused by the body limit before it is read

        listed = (await official.get(base)).json()
        assert [e["title"] for e in listed] == ["Council decision", "Internal plan", "Site photo"]
        download = await official.get(listed[0]["download_path"])
        assert download.status_code == 200 and download.content == PDF
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["x-content-type-options"] == "nosniff"
        assert download.headers["content-disposition"] == 'attachment; filename="Beschluss Stadtrat.pdf"'
        assert (await lead.get(listed[1]["download_path"])).content == docx()

        integration = await env.client(app, "integration")
        assert [e["title"] for e in (await integration.get(base)).json()] == ["Council decision"]
        assert (await integration.get(listed[0]["download_path"])).status_code == 200
        assert (await integration.get(listed[1]["download_path"])).status_code == 404  # private: as if absent
        lyon = await env.client(app, "city_official", "lyon")
        assert (await lyon.get(listed[0]["download_path"])).status_code == 403
        assert (await lyon.post(f"{base}/file", files={"file": ("a.pdf", PDF)}, data={"title": "x"})).status_code == 403
        assert (await lead.post(f"{base}/file", files={"file": ("a.pdf", PDF)}, data={"title": "x"})).status_code == 403
        history = (await official.get(f"/follow-ups/{followup['id']}/history")).json()
        assert [h["new"] for h in history if h["field"] == "evidence"] == ["Council decision", "Internal plan", "Site photo"]
        # the history says what the list says: an integration learns no private title there either
        seen = (await integration.get(f"/follow-ups/{followup['id']}/history")).json()
        assert [h["new"] for h in seen if h["field"] == "evidence"] == ["Council decision"]
        assert len(seen) == len(history) - 2  # only the two private items' entries are left out

        # a seminar's evidence at once says what each follow-up's list says, to each reader
        of_seminar = {"seminar": followup["seminar_id"]}
        for reader in (lead, official, integration):
            found = (await reader.get("/evidence", params=of_seminar)).json()
            mine = next(f for f in found if f["followup_id"] == followup["id"])
            assert mine["evidence"] == (await reader.get(base)).json()
        assert (await lyon.get("/evidence", params=of_seminar)).json() == []  # no follow-up of Lyon's there
        unbounded = await lead.get("/evidence")
        assert unbounded.status_code == 422 and "which seminar" in unbounded.json()["detail"]
        for c in (lead, official, integration, lyon):
            await c.aclose()
