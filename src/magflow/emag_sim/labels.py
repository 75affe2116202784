"""The simulator's AWB labels (docs/emag-protocol.md, "AWBs and couriers"): ``awb/read_pdf``
answers a real, small PDF document (one page of the asked size carrying the AWB number), and
``awb/read_zpl`` the ZPL text of the label, base64-encoded.

The PDF is written by hand (no dependency): a catalog, a pages tree, one page, one content stream
and the Helvetica font, with a cross-reference table whose byte offsets are computed from what is
written, so any PDF reader opens it.
"""

from __future__ import annotations

#: Page sizes in PDF points (1/72 inch), portrait: ISO A4, A5, A6.
PAGE_SIZES = {"A4": (595, 842), "A5": (420, 595), "A6": (298, 420)}


def _escape(text: str) -> str:
    """A PDF literal string body: backslash and parentheses escaped, non-ASCII dropped."""
    ascii_text = text.encode("ascii", "ignore").decode()
    return ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def label_pdf(awb_number: str, courier: str, paper: str) -> bytes:
    """A one-page PDF of size ``paper`` (A4, A5 or A6) showing the courier and AWB number."""
    width, height = PAGE_SIZES[paper]
    text = (
        f"BT /F1 14 Tf 24 {height - 48} Td ({_escape(courier)}) Tj ET\n"
        f"BT /F1 18 Tf 24 {height - 80} Td (AWB {_escape(awb_number)}) Tj ET\n"
    ).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
            "/Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
        ).encode(),
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def label_zpl(awb_number: str, courier: str) -> str:
    """The ZPL II program of a label: the courier, the AWB number and its Code 128 barcode."""
    return (
        "^XA\n"
        f"^FO40,40^A0N,40,40^FD{courier}^FS\n"
        f"^FO40,100^A0N,50,50^FDAWB {awb_number}^FS\n"
        f"^FO40,180^BCN,120,Y,N,N^FD{awb_number}^FS\n"
        "^XZ\n"
    )
