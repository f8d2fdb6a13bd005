"""The pet's record as a PDF an owner can hand to a clinic (fpdf2; DejaVu Sans shipped with
matplotlib covers Cyrillic). Labels come from the caller, already translated."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from shared.adapters.third_party_logs import keep_owner_text_out_of_logs


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def pet_record_pdf(title: str, profile: list[tuple[str, str]],
                   sections: list[tuple[str, list[str], list[list[str]]]], footer: str) -> bytes:
    """`sections`: (heading, column headers, rows); an empty rows list prints `footer`-style dash."""
    from fpdf import FPDF

    keep_owner_text_out_of_logs()  # fpdf2 names the glyphs the font lacks, fontTools those it keeps
    pdf = FPDF(format="A4")
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 18)
    pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 11)
    for label, value in profile:
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(50, 7, label)
        pdf.set_font("DejaVu", "", 11)
        pdf.multi_cell(0, 7, value, new_x="LMARGIN", new_y="NEXT")
    for heading, headers, rows in sections:
        pdf.ln(4)
        pdf.set_font("DejaVu", "B", 14)
        pdf.cell(0, 9, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        if not rows:
            pdf.cell(0, 7, "—", new_x="LMARGIN", new_y="NEXT")
            continue
        with pdf.table(col_widths=None, text_align="LEFT", line_height=6) as table:
            head = table.row()
            for h in headers:
                head.cell(h)
            for values in rows:
                row = table.row()
                for v in values:
                    row.cell(v)
    pdf.ln(6)
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(0, 5, footer, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def fmt_date(day: date | None) -> str:
    return day.strftime("%d.%m.%Y") if day else "—"
