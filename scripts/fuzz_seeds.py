#!/usr/bin/env python3
"""Writes the seed corpora of Folio's fuzz targets into DIR/<target>/.

Seeds come from the dev documents (PDFs, text excerpts) and from hand-made
malformed files: truncated and deeply nested PDFs, a page tree claiming a
million pages, HTML with deep nesting and entities, DOCX zip bombs and XML
entity expansion, model replies of every shape, API bodies with hostile names.
Nothing here is committed output: it is regenerated on every run.

Usage: fuzz_seeds.py OUT_DIR [EVAL_DIR]
"""

import io
import json
import pathlib
import sys
import zipfile

out = pathlib.Path(sys.argv[1])
eval_dir = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/eval")
docs = sorted((eval_dir / "docs").glob("*")) if (eval_dir / "docs").is_dir() else []
pdfs = sorted((p for p in docs if p.suffix == ".pdf"), key=lambda p: p.stat().st_size)
texts = [p.read_text(errors="replace") for p in docs if p.suffix == ".txt"]


def seed(target, name, data):
    path = out / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def excerpt(text, start, length):
    return text[start : start + length]


# ---- PDF -------------------------------------------------------------------
for i, pdf in enumerate(pdfs[:6]):
    seed("parse_pdf", f"dev-{i}.pdf", pdf.read_bytes())
if pdfs:
    small = pdfs[0].read_bytes()
    seed("parse_pdf", "truncated.pdf", small[: len(small) // 3])
    seed("parse_pdf", "no-xref.pdf", small.split(b"xref")[0])


def pdf(objects, root=1):
    body = b"%PDF-1.7\n"
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    body += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return body


content = b"BT /F1 12 Tf 72 720 Td (Section 1. Term. This Agreement ends on 31 December 2030.) Tj ET"
page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
stream = b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"
seed("parse_pdf", "minimal.pdf", pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, stream, font]))
seed("parse_pdf", "million-pages.pdf", pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1000000 >>", page, stream, font]))
seed("parse_pdf", "kids-cycle.pdf", pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>", page, stream, font]))
seed("parse_pdf", "deep-array.pdf", pdf([b"<< /Type /Catalog /Pages 2 0 R /Deep " + b"[" * 20000 + b"]" * 20000 + b" >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, stream, font]))
seed("parse_pdf", "deep-dict.pdf", pdf([b"<< /Type /Catalog /Pages 2 0 R /D " + b"<< /A " * 5000 + b"1" + b" >>" * 5000 + b" >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, stream, font]))
seed("parse_pdf", "bad-length.pdf", pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, b"<< /Length 999999 >>\nstream\n" + content + b"\nendstream", font]))

# ---- HTML ------------------------------------------------------------------
filing = """<!DOCTYPE html><html><head><title>Acme Corp 10-K</title><style>p{}</style></head><body>
<div style="display:none"><ix:header>hidden XBRL</ix:header></div>
<p style="text-align:center"><b>PART II</b></p><h2>Item 7. Management&#8217;s Discussion and Analysis</h2>
<p>Revenue was $1,234.5 million&nbsp;in fiscal 2023, up 12% &amp; more.</p>
<table><tr><th>Year</th><th>Revenue</th></tr><tr><td>2023</td><td>$ 1,234.5</td></tr><tr><td colspan="2">Total</td></tr></table>
<hr style="page-break-after:always"/><p>Page 2 &lt;continued&gt; &#x1F600; &bogus; &#99999999;</p>
<script>document.write('x')</script></body></html>"""
seed("parse_html", "filing.html", filing)
seed("parse_html", "deep.html", "<div>" * 20000 + "text" + "</div>" * 20000)
seed("parse_html", "tables.html", "<table>" + "<tr>" + "<td>cell</td>" * 200 + "</tr>" * 50 + "</table>")
seed("parse_html", "unclosed.html", "<html><body><p>Section 1<table><tr><td>a<td>b<p>c</body>")
seed("parse_html", "latin1.html", "<html><head><meta charset=\"iso-8859-1\"></head><body>caf\xe9</body></html>".encode("latin-1"))
for i, text in enumerate(texts[:4]):
    paragraphs = "".join(f"<p>{p}</p>" for p in excerpt(text, 0, 6000).split("\n\n"))
    seed("parse_html", f"dev-{i}.html", f"<html><body>{paragraphs}</body></html>")

# ---- DOCX ------------------------------------------------------------------
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
CONTENT_TYPES = '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'


def docx(document_xml, extra=(), compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("word/document.xml", document_xml)
        for name, data in extra:
            archive.writestr(name, data)
    return buffer.getvalue()


def paragraph(text, style=None):
    props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    return f"<w:p>{props}<w:r><w:t xml:space=\"preserve\">{escaped}</w:t></w:r></w:p>"


body = paragraph("ARTICLE 1 DEFINITIONS", "Heading1") + paragraph('"Affiliate" means any entity controlling a party.')
body += "<w:tbl><w:tr><w:tc>" + paragraph("Fee") + "</w:tc><w:tc>" + paragraph("$10,000") + "</w:tc></w:tr></w:tbl>"
body += '<w:p><w:r><w:br w:type="page"/></w:r></w:p>' + paragraph("Section 2. Term.", "Heading2")
seed("parse_docx", "minimal.docx", docx(f"<w:document {W}><w:body>{body}</w:body></w:document>"))
for i, text in enumerate(texts[:3]):
    paras = "".join(paragraph(p) for p in excerpt(text, 0, 8000).split("\n\n"))
    seed("parse_docx", f"dev-{i}.docx", docx(f"<w:document {W}><w:body>{paras}</w:body></w:document>"))
laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)
) + f"]><w:document {W}><w:body>{paragraph('x')}<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
seed("parse_docx", "billion-laughs.docx", docx(laughs))
seed("parse_docx", "external-entity.docx", docx(f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><w:document {W}><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>'))
seed("parse_docx", "zip-bomb.docx", docx(f"<w:document {W}><w:body>{paragraph('bomb')}</w:body></w:document>", [("word/media/zeros.bin", b"\0" * 40_000_000)]))
seed("parse_docx", "no-document.docx", docx("", []).replace(b"word/document.xml", b"word/documenX.xml"))
seed("parse_docx", "deep-xml.docx", docx(f"<w:document {W}><w:body>" + "<w:sdt><w:sdtContent>" * 5000 + paragraph("deep") + "</w:sdtContent></w:sdt>" * 5000 + "</w:body></w:document>"))

# ---- structurizer and chunker (first byte: 0 text, 1 markdown) ---------------
for i, text in enumerate(texts[:8]):
    seed("structure_and_chunk", f"dev-{i}.txt", b"\0" + excerpt(text, 0, 16000).encode())
seed("structure_and_chunk", "markdown.md", b"\1# Agreement\n\n## 1. Definitions\n\n\"Term\" means one year.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n### 1.1 (a) Sub\n\ntext\n")
seed("structure_and_chunk", "numbering.txt", b"\0ARTICLE I\nDEFINITIONS\n\nSection 1.01. Terms.\n(a) first;\n(b) second;\n(i) roman\n\nITEM 7. MD&A\n\n1.\n\n1.1\n\n" + ("A" * 3000).encode())

# ---- ALR² fact checking (context, form feed, model reply) -------------------
context = excerpt(texts[0], 0, 3000) if texts else "The Supplier shall deliver the goods. Payment is due in 30 days."
for i, reply in enumerate([
    'S1: "The Supplier shall deliver"\nS2: "Payment is due in 30 days"',
    "NONE",
    'S999: "made up"\nS0: ""\nS-1: "x"',
    '[S3] "Pursuant to 15 U.S.C. Sec. 78"\n- S4 - “curly quotes”',
    '{"facts": [{"id": 2, "quote": "x"}]}',
    "S1: unquoted words of the first sentence",
    'S2: "' + "word " * 400 + '"',
]):
    seed("alr2_facts", f"reply-{i}.txt", context + "\f" + reply)
seed("alr2_facts", "legal-abbreviations.txt", "See 42 U.S.C. No. 5. Sec. 3(a) applies. (b) The Co. Inc. agrees. Art. 7.2 ends here.\fS1: \"See 42 U.S.C. No. 5.\"")

# ---- API request decoding (first byte: route) --------------------------------
bodies = [
    (0, {"question": "Who may terminate?", "documents": ["d1"], "pipeline": "full", "stream": True, "trace": True}),
    (0, {"question": "", "pipeline": "nonsense"}),
    (1, {"query": "termination notice", "limit": 50, "mode": "hybrid", "collections": ["default"]}),
    (1, {"query": "x", "limit": -1}),
    (2, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 16, "temperature": 0.2, "stop": ["\n"], "stream": True}),
    (2, {"messages": [], "max_tokens": 99999999999}),
    (3, {"name": "contracts"}),
    (3, {"name": "\u0000bad"}),
    (4, {"name": "ci", "role": "viewer"}),
    (4, {"name": "ci", "role": "root", "extra": 1}),
]
for i, (route, body) in enumerate(bodies):
    seed("api_requests", f"json-{i}", bytes([route]) + json.dumps(body).encode())
multipart = (
    b"--FUZZ\r\nContent-Disposition: form-data; name=\"collection\"\r\n\r\ncontracts\r\n"
    b"--FUZZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../etc/passwd\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    b"--FUZZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\x\\\\a\x00b.pdf\"\r\n\r\n%PDF-\r\n--FUZZ--\r\n"
)
seed("api_requests", "multipart", bytes([5]) + multipart)
seed("api_requests", "query", bytes([6]) + b"collection=%2e%2e%2F%00x&collection=y")
print(f"seeds written under {out}")
