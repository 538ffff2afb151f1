// The dashboard's charts: inline SVG drawn on the server (no JavaScript), d3-scale for the
// scales and ticks and d3-shape for the stacks and lines. Each chart comes with a title, a
// one-sentence summary a screen reader announces (the SVG's <desc>), and the same figures as a
// table beside it. Colours are a palette that holds 3:1 against white (WCAG's non-text
// contrast) and is told apart by people with the common colour-vision deficiencies; the table
// and the legend's order carry the same information for everyone else.
import { type ScaleLinear, scaleBand, scaleLinear } from 'd3-scale';
import { line, stack } from 'd3-shape';
import type { Series } from '../dashboard/rules.ts';
import { escapeHtml } from '../html.ts';

/** Okabe–Ito, darkened where needed for 3:1 on white; grey last for "other". */
export const PALETTE = ['#0b6fb0', '#c85a00', '#008060', '#b0328a', '#6b5b00', '#5b4bc4', '#6b6b6b'];

// A narrow drawing, so its 13-unit labels stay readable when a phone scales it down.
const W = 480;
const H = 240;
const M = { top: 14, right: 10, bottom: 30, left: 56 };

export interface Line {
  label: string;
  value: number;
}

const shortWeek = (week: string) => {
  const d = new Date(`${week}T00:00:00Z`);
  return d.toLocaleDateString('en', { month: 'short', day: 'numeric', timeZone: 'UTC' });
};

function frame(id: string, title: string, summary: string, body: string) {
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}-t ${id}-d" focusable="false" xmlns="http://www.w3.org/2000/svg"><title id="${id}-t">${escapeHtml(title)}</title><desc id="${id}-d">${escapeHtml(summary)}</desc>${body}</svg>`;
}

function axes(
  weeks: string[],
  x: (w: string) => number,
  y: ScaleLinear<number, number>,
  format: (n: number) => string,
) {
  const ticks = y.ticks(4);
  const grid = ticks
    .map(
      (t) =>
        `<line x1="${M.left}" x2="${W - M.right}" y1="${y(t)}" y2="${y(t)}" stroke="#d6d6d6"/><text x="${M.left - 6}" y="${y(t) + 4}" text-anchor="end" font-size="13" fill="#444">${escapeHtml(format(t))}</text>`,
    )
    .join('');
  // Every other week labelled: twelve labels do not fit a phone.
  const labels = weeks
    .map((w, i) =>
      i % 2 === weeks.length % 2
        ? ''
        : `<text x="${x(w)}" y="${H - 8}" text-anchor="middle" font-size="13" fill="#444">${escapeHtml(shortWeek(w))}</text>`,
    )
    .join('');
  return grid + labels;
}

const count = (n: number) => (Number.isInteger(n) ? n.toLocaleString('en') : '');

/** Weekly stacked bars, one colour per series (at most PALETTE.length of them). */
export function stackedBars(id: string, title: string, summary: string, weeks: string[], series: Series[]) {
  const x = scaleBand<string>()
    .domain(weeks)
    .range([M.left, W - M.right])
    .padding(0.25);
  const rows = weeks.map((_, i) => Object.fromEntries(series.map((s) => [s.key, s.values[i]])));
  const layers = stack<Record<string, number>>().keys(series.map((s) => s.key))(rows);
  const top = Math.max(1, ...layers.flatMap((l) => l.map((d) => d[1])));
  const y = scaleLinear()
    .domain([0, top])
    .nice(4)
    .range([H - M.bottom, M.top]);
  const bars = layers
    .map((layer, li) =>
      layer
        .map((d, i) =>
          d[1] > d[0]
            ? `<rect x="${x(weeks[i])}" y="${y(d[1])}" width="${x.bandwidth()}" height="${Math.max(0, y(d[0]) - y(d[1]))}" fill="${PALETTE[li % PALETTE.length]}"><title>${escapeHtml(`${shortWeek(weeks[i])}: ${series[li].label} ${d[1] - d[0]}`)}</title></rect>`
            : '',
        )
        .join(''),
    )
    .join('');
  const centre = (w: string) => (x(w) ?? 0) + x.bandwidth() / 2;
  return frame(id, title, summary, axes(weeks, centre, y, count) + bars);
}

/** Weekly lines (null: no value that week), with optional labelled reference lines. */
export function lines(
  id: string,
  title: string,
  summary: string,
  weeks: string[],
  series: { label: string; values: (number | null)[] }[],
  opts: { format?: (n: number) => string; refs?: Line[]; minTop?: number } = {},
) {
  const format = opts.format ?? count;
  const x = scaleLinear()
    .domain([0, Math.max(1, weeks.length - 1)])
    .range([M.left + 12, W - M.right - 12]);
  const values = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const top = Math.max(opts.minTop ?? 1, ...values, ...(opts.refs ?? []).map((r) => r.value * 1.15));
  const y = scaleLinear()
    .domain([0, top])
    .nice(4)
    .range([H - M.bottom, M.top]);
  const refs = (opts.refs ?? [])
    .map(
      (r) =>
        `<line x1="${M.left}" x2="${W - M.right}" y1="${y(r.value)}" y2="${y(r.value)}" stroke="#a4001d" stroke-dasharray="6 4"/><text x="${W - M.right}" y="${y(r.value) - 4}" text-anchor="end" font-size="13" fill="#a4001d">${escapeHtml(r.label)}</text>`,
    )
    .join('');
  const paths = series
    .map((s, si) => {
      const points = s.values.map((v, i) => [i, v] as const);
      const path = line<readonly [number, number | null]>()
        .defined((p) => p[1] !== null)
        .x((p) => x(p[0]))
        .y((p) => y(p[1] ?? 0))(points);
      const colour = PALETTE[si % PALETTE.length];
      const dots = points
        .filter((p) => p[1] !== null)
        .map(
          (p) =>
            `<circle cx="${x(p[0])}" cy="${y(p[1] ?? 0)}" r="3.5" fill="${colour}"><title>${escapeHtml(`${shortWeek(weeks[p[0]])}: ${s.label} ${format(p[1] ?? 0)}`)}</title></circle>`,
        )
        .join('');
      return `<path d="${path ?? ''}" fill="none" stroke="${colour}" stroke-width="2.5"${si % 2 ? ' stroke-dasharray="8 3"' : ''}/>${dots}`;
    })
    .join('');
  return frame(id, title, summary, axes(weeks, (w) => x(weeks.indexOf(w)), y, format) + refs + paths);
}
