"""Small server-rendered SVG charts for the portal (no chart library, no JavaScript needed to read them).

Each function returns markup safe to embed (every text is escaped); each chart has a <title> and <desc> so a
screen reader announces what it shows, and the numbers are also in a table beside it on the page.
"""
from __future__ import annotations

from datetime import date, timedelta
from html import escape

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from inference.bone_age import GP_SD_MONTHS

# Colour-blind-safe categorical palette (Okabe & Ito), readable on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def usage_by_day_svg(*, usage: dict, month_start: date, width: int = 1000, height: int = 280) -> SafeString:
    """A stacked bar chart of completed assessments per day of the month, one colour per model."""
    days = []
    day = month_start
    while day.month == month_start.month:
        days.append(day)
        day += timedelta(days=1)
    models = [row["model"] for row in usage["by_model"]]
    counts = {(row["date"], row["model"]): row["count"] for row in usage["by_day"]}
    totals = [sum(counts.get((d.isoformat(), m), 0) for m in models) for d in days]
    top = max([*totals, 1])
    left, right, bottom, top_pad = 40, 10, 28, 12
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    bar_w = plot_w / len(days)
    parts = [f'<svg class="chart chart-usage" viewBox="0 0 {width} {height}" role="img" aria-labelledby="usage-title usage-desc"'
             f' xmlns="http://www.w3.org/2000/svg">',
             f'<title id="usage-title">{escape(_("Assessments per day"))}</title>',
             f'<desc id="usage-desc">{escape(_("Completed assessments per day this month, by model; the table below lists the same numbers."))}</desc>']
    # Horizontal grid lines at whole numbers (at most five of them).
    step = max(1, -(-top // 5))
    for value in range(0, top + 1, step):
        y = top_pad + plot_h - plot_h * value / top
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{value}</text>')
    for index, d in enumerate(days):
        x = left + index * bar_w
        y = top_pad + plot_h
        for model_index, model in enumerate(models):
            count = counts.get((d.isoformat(), model), 0)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[model_index % len(PALETTE)]}" data-model="{escape(model)}" '
                         f'data-date="{d.isoformat()}" data-count="{count}"><title>{escape(model)} '
                         f'{d.isoformat()}: {count}</title></rect>')
        if d.day == 1 or d.day % 5 == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle" class="tick">'
                         f'{d.day}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def bone_age_chart_svg(*, sex: str, bone_age_months: float, chronological_age_months: float | None,
                       width: int = 420, height: int = 360) -> SafeString:
    """The patient on the Greulich & Pyle reference: bone age against chronological age, the line where they
    are equal (the atlas mean) and the +/-2 SD band of the sex's Brush Foundation table around it."""
    table = GP_SD_MONTHS.get(sex)
    max_years = 18
    left, bottom, right, top_pad = 46, 40, 12, 12
    plot_w, plot_h = width - left - right, height - bottom - top_pad

    def px(age_m: float) -> float:
        return left + plot_w * min(max(age_m, 0), max_years * 12) / (max_years * 12)

    def py(age_m: float) -> float:
        return top_pad + plot_h - plot_h * min(max(age_m, 0), max_years * 12) / (max_years * 12)

    title = _("Bone age against the Greulich & Pyle reference")
    parts = [f'<svg class="chart bone-age-chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="ba-title ba-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="ba-title">{escape(title)}</title>']
    if chronological_age_months is not None:
        desc = _("The patient's point: chronological age %(chrono)s years, bone age %(bone)s years.") % {
            "chrono": _fmt(chronological_age_months / 12), "bone": _fmt(bone_age_months / 12)}
    else:
        desc = _("Chronological age unknown: the bone age is shown on the vertical axis only.")
    parts.append(f'<desc id="ba-desc">{escape(desc)}</desc>')
    for years in range(0, max_years + 1, 2):
        x, y = px(years * 12), py(years * 12)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_pad}" y2="{top_pad + plot_h}" class="grid"/>'
                     f'<text x="{x:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" class="tick">{years}</text>'
                     f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{years}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" class="axis">'
                 f'{escape(_("Chronological age (years)"))}</text>'
                 f'<text transform="translate(12 {top_pad + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
                 f'class="axis">{escape(_("Bone age (years)"))}</text>')
    if table:
        upper = " ".join(f"{px(a):.1f},{py(a + 2 * sd):.1f}" for a, sd in table)
        lower = " ".join(f"{px(a):.1f},{py(a - 2 * sd):.1f}" for a, sd in reversed(table))
        parts.append(f'<polygon points="{upper} {lower}" class="band"><title>{escape(_("±2 SD"))}</title></polygon>')
        first, last = table[0][0], table[-1][0]
        parts.append(f'<line x1="{px(first):.1f}" y1="{py(first):.1f}" x2="{px(last):.1f}" y2="{py(last):.1f}" '
                     f'class="mean"><title>{escape(_("Reference mean (bone age = chronological age)"))}</title></line>')
    if chronological_age_months is not None:
        parts.append(f'<circle cx="{px(chronological_age_months):.1f}" cy="{py(bone_age_months):.1f}" r="6" '
                     f'class="patient" data-chrono-months="{_fmt(chronological_age_months)}" '
                     f'data-bone-months="{_fmt(bone_age_months)}"><title>{escape(desc)}</title></circle>')
    else:
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(bone_age_months):.1f}" '
                     f'y2="{py(bone_age_months):.1f}" class="patient-line"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
