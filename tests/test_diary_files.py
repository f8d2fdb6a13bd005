"""The weight chart and the PDF export checked as files: they open, have the right size and pages,
and contain the pet's name."""
import io
from datetime import date, timedelta

from PIL import Image
from pypdf import PdfReader

from shared.adapters.charts import weight_chart
from shared.adapters.pdf_export import pet_record_pdf


def test_weight_chart_is_a_phone_sized_png():
    points = [(date(2026, 1, 1) + timedelta(days=7 * i), 4.0 + 0.05 * i) for i in range(20)]
    png = weight_chart(points, "Мурка — вес", unit="кг", last_label="4,95 кг")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (960, 600)
    image.verify()


def test_weight_chart_of_a_year_stays_light_and_renders_from_one_point(monkeypatch):
    """What keeps a year of daily weighings fast (about 300 ms) and readable, checked on the figure
    rather than by the clock: one line without per-point markers, the trend and the last value, a
    handful of date ticks, 960 x 600 px, and no figure left open."""
    import matplotlib.figure
    import matplotlib.pyplot as plt

    drawn, savefig = [], matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda fig, *a, **k: (drawn.append(fig), savefig(fig, *a, **k)))
    points = [(date(2025, 1, 1) + timedelta(days=i), 30 + (i % 30) / 10) for i in range(365)]
    png = weight_chart(points, "Rex — weight")
    [fig] = drawn
    [ax] = fig.axes
    weights, trend = ax.lines
    assert len(weights.get_xdata()) == 365 and weights.get_marker() == "None" and len(trend.get_xdata()) == 2
    assert len(ax.collections) == 1 and len(ax.texts) == 1  # the last weighing: one dot, one label
    low, high = ax.get_xlim()
    assert 3 <= len([x for x in ax.get_xticks() if low <= x <= high]) <= 6
    assert plt.get_fignums() == []
    assert Image.open(io.BytesIO(png)).size == (960, 600)
    assert Image.open(io.BytesIO(weight_chart(points[:1], "one"))).size == (960, 600)


def test_pdf_export_has_pages_and_the_pets_name_in_cyrillic():
    rows = [[f"{i:02d}.01.2026", f"{4 + i / 100:.2f}"] for i in range(1, 29)] * 4
    pdf = pet_record_pdf("Медкарта: Мурка", [("Вид", "кошка"), ("Порода", "Британская")],
                         [("Вес", ["Дата", "кг"], rows), ("Прививки", ["Дата", "Препарат"], [])],
                         "Телемед-Питомец")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 2
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Мурка" in text and "Британская" in text and "Прививки" in text
