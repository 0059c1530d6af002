/**
 * The durability bench's chart as a hand-written SVG: flush interval on a log x axis; SET
 * latency p50 and p99 on a log left axis; store PUTs per second on a log right axis.
 */

export interface Point {
  interval: number;
  p50: number;
  p99: number;
  puts: number;
}

const W = 760;
const H = 420;
const M = { left: 70, right: 80, top: 56, bottom: 56 };
const COLORS = { p50: '#1f77b4', p99: '#d62728', puts: '#2ca02c' };

/** Decade bounds around the values (1, 10, 100...), at least one decade wide. */
function decades(values: number[]): [number, number] {
  const pos = values.filter((v) => v > 0);
  let lo = Math.pow(10, Math.floor(Math.log10(Math.min(...pos))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...pos))));
  if (hi / lo < 10) lo = hi / 10;
  return [lo, hi];
}

/** 1, 2, 5 steps within [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) for (const m of [1, 2, 5]) if (d * m >= lo * 0.9999 && d * m <= hi * 1.0001) out.push(d * m);
  return out;
}

function label(v: number): string {
  if (v >= 1000) return `${v / 1000}k`;
  if (v >= 1) return String(Number(v.toPrecision(3)));
  return String(Number(v.toPrecision(2)));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

export function chartSvg(points: Point[]): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const [xlo, xhi] = decades(points.map((p) => p.interval));
  const [llo, lhi] = decades(points.flatMap((p) => [p.p50, p.p99]));
  const [plo, phi] = decades(points.map((p) => p.puts));
  const log = (v: number, lo: number, hi: number) => (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
  const x = (v: number) => M.left + log(v, xlo, xhi) * pw;
  const yl = (v: number) => M.top + ph - log(Math.max(v, llo), llo, lhi) * ph;
  const yr = (v: number) => M.top + ph - log(Math.max(v, plo), plo, phi) * ph;
  const out: string[] = [];
  const push = (s: string) => out.push(s);

  push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Strict durability: SET latency and store PUTs vs flush interval</text>`);

  // Grid and axes.
  for (const t of ticks(llo, lhi)) {
    push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${yl(t).toFixed(1)}" y2="${yl(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    push(`<text x="${M.left - 8}" y="${(yl(t) + 4).toFixed(1)}" text-anchor="end">${label(t)}</text>`);
  }
  for (const t of ticks(plo, phi)) {
    push(`<text x="${M.left + pw + 8}" y="${(yr(t) + 4).toFixed(1)}" fill="${COLORS.puts}">${label(t)}</text>`);
  }
  for (const p of points) {
    push(`<line x1="${x(p.interval).toFixed(1)}" x2="${x(p.interval).toFixed(1)}" y1="${M.top}" y2="${M.top + ph}" stroke="#f0f0f0"/>`);
    push(`<text x="${x(p.interval).toFixed(1)}" y="${M.top + ph + 18}" text-anchor="middle">${p.interval}</text>`);
  }
  push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  push(`<text x="${M.left + pw / 2}" y="${H - 14}" text-anchor="middle">flush-interval (ms, log scale)</text>`);
  push(`<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">SET latency (ms, log scale)</text>`);
  push(`<text transform="translate(${W - 16} ${M.top + ph / 2}) rotate(90)" text-anchor="middle" fill="${COLORS.puts}">store PUTs per second (log scale)</text>`);

  // Series.
  const series = (key: 'p50' | 'p99' | 'puts', y: (v: number) => number, dash: string) => {
    const pts = points.map((p) => `${x(p.interval).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ');
    push(`<polyline points="${pts}" fill="none" stroke="${COLORS[key]}" stroke-width="2.5" ${dash ? `stroke-dasharray="${dash}"` : ''}/>`);
    for (const p of points) {
      push(`<circle cx="${x(p.interval).toFixed(1)}" cy="${y(p[key]).toFixed(1)}" r="3.5" fill="${COLORS[key]}"><title>${esc(`${key} at ${p.interval} ms: ${label(p[key])}`)}</title></circle>`);
    }
  };
  series('puts', yr, '6 4');
  series('p99', yl, '');
  series('p50', yl, '');

  // Legend.
  const legend: [string, string, string][] = [
    ['SET p50 (ms)', COLORS.p50, ''],
    ['SET p99 (ms)', COLORS.p99, ''],
    ['store PUTs/s (right axis)', COLORS.puts, '6 4'],
  ];
  legend.forEach(([text, color, dash], i) => {
    const lx = M.left + 12 + i * 200;
    push(`<line x1="${lx}" x2="${lx + 26}" y1="${M.top - 14}" y2="${M.top - 14}" stroke="${color}" stroke-width="2.5" ${dash ? `stroke-dasharray="${dash}"` : ''}/>`);
    push(`<text x="${lx + 32}" y="${M.top - 10}">${esc(text)}</text>`);
  });
  push('</svg>');
  return out.join('\n') + '\n';
}
