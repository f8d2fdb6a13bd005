// The weight chart, drawn as SVG: a line through the weighings by date, a point per weighing; tapping
// (or focusing and pressing Enter) a point shows its date and weight.
import { useState } from "react";
import { t } from "../i18n.js";
import { formatDate, formatKg } from "../format.js";

const W = 340;
const H = 190;
const PAD = { left: 40, right: 14, top: 16, bottom: 28 };

function niceTicks(lo, hi, count = 4) {
  const span = hi - lo || Math.max(Math.abs(hi), 1);
  const raw = span / (count - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const start = Math.floor(lo / step) * step;
  const ticks = [];
  for (let v = start; v <= hi + step * 0.5 && ticks.length < 8; v += step) ticks.push(Number(v.toFixed(6)));
  return ticks;
}

export default function WeightChart({ weights }) {
  const [selected, setSelected] = useState(null);
  if (!weights.length) return <p className="empty">{t("webapp.weight.empty")}</p>;
  const times = weights.map((w) => Date.parse(`${w.date}T12:00:00Z`));
  const kgs = weights.map((w) => w.kg);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const ticks = niceTicks(Math.min(...kgs), Math.max(...kgs));
  const lo = Math.min(ticks[0], ...kgs);
  const hi = Math.max(ticks[ticks.length - 1], ...kgs);
  const x = (time) => (t1 === t0 ? (PAD.left + W - PAD.right) / 2 : PAD.left + ((time - t0) / (t1 - t0)) * (W - PAD.left - PAD.right));
  const y = (kg) => (hi === lo ? (PAD.top + H - PAD.bottom) / 2 : PAD.top + (1 - (kg - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom));
  const points = weights.map((w, i) => ({ ...w, px: x(times[i]), py: y(w.kg), i }));
  const current = selected == null ? points.length - 1 : Math.min(selected, points.length - 1);
  const shown = points[current];
  const label = (p) => t("webapp.weight.point", { date: formatDate(p.date), kg: formatKg(p.kg) });
  const tipW = 118;
  const tipX = Math.min(Math.max(shown.px - tipW / 2, PAD.left), W - PAD.right - tipW);
  const tipY = shown.py - 40 < 0 ? shown.py + 12 : shown.py - 40;
  const short = { day: "numeric", month: "short" };
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="group" aria-label={t("webapp.weight.chart")}
           className="chart-svg" data-points={points.length}>
        {ticks.filter((v) => v >= lo && v <= hi).map((v) => (
          <g key={v} aria-hidden="true">
            <line x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} className="grid" />
            <text x={PAD.left - 6} y={y(v) + 4} textAnchor="end" className="axis">{formatKg(v)}</text>
          </g>
        ))}
        <text x={PAD.left} y={H - 8} className="axis" aria-hidden="true">{formatDate(weights[0].date, short)}</text>
        {points.length > 1 && (
          <text x={W - PAD.right} y={H - 8} textAnchor="end" className="axis" aria-hidden="true">
            {formatDate(weights[weights.length - 1].date, short)}
          </text>
        )}
        {points.length > 1 && (
          <polyline className="line" fill="none" points={points.map((p) => `${p.px},${p.py}`).join(" ")} aria-hidden="true" />
        )}
        {points.map((p) => (
          <g key={p.id || `${p.date}-${p.i}`} className={p.i === current ? "point point-on" : "point"}
             role="button" tabIndex={0} aria-label={label(p)} aria-pressed={p.i === current}
             data-date={p.date} data-kg={p.kg}
             onClick={() => setSelected(p.i)}
             onKeyDown={(e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); setSelected(p.i); } }}>
            <circle cx={p.px} cy={p.py} r="14" className="hit" />
            <circle cx={p.px} cy={p.py} r={p.i === current ? 6 : 4} className="dot" />
          </g>
        ))}
        <g className="tip" aria-hidden="true">
          <rect x={tipX} y={tipY} width={tipW} height="30" rx="8" />
          <text x={tipX + tipW / 2} y={tipY + 13} textAnchor="middle" className="tip-kg">
            {t("webapp.kg", { kg: formatKg(shown.kg) })}
          </text>
          <text x={tipX + tipW / 2} y={tipY + 25} textAnchor="middle" className="tip-date">{formatDate(shown.date, short)}</text>
        </g>
      </svg>
      <figcaption className="chart-readout" aria-live="polite" data-testid="chart-readout">{label(shown)}</figcaption>
    </figure>
  );
}
