"""Short documents of the crisis as PDF (reportlab, the standard fonts): a point de situation as
mailed upward, the RETEX. Text in, PDF out: a line in capitals is a heading, a line starting
with « # » too (the RETEX's Markdown), the rest is body text."""

from __future__ import annotations

import io
from typing import Any

from bot.crisis.export import latin


def text_pdf(title: str, text: str, images: tuple[bytes, ...] = ()) -> bytes:
    """A plain document: « # » headings, upper-case lines as subheadings, then the images (PNG)."""
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    body = styles["BodyText"]

    def p(line: str, style: Any = body) -> Paragraph:
        return Paragraph(escape(latin(line)), style)

    story: list[Any] = [p(title, styles["Title"])]
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line:
            story.append(Spacer(1, 2 * mm))
        elif line.startswith("#"):
            level = min(3, len(line) - len(line.lstrip("#")) + 1)
            story.append(p(line.lstrip("# "), styles[f"Heading{level}"]))
        elif line.isupper() and len(line) < 60:
            story.append(p(line, styles["Heading3"]))
        else:
            story.append(p(line))
    for png in images:
        from reportlab.platypus import Image

        picture = Image(io.BytesIO(png))
        ratio = (170 * mm) / picture.drawWidth
        picture.drawWidth, picture.drawHeight = 170 * mm, picture.drawHeight * ratio
        story += [Spacer(1, 4 * mm), picture]
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, title=latin(title), author="Vigie", leftMargin=18 * mm, rightMargin=18 * mm
    )
    doc.build(story)
    return out.getvalue()
