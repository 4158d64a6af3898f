/** A small SVG of the latency distribution: histogram bars, the CDF line, and p50/p95/p99 markers. */

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function latencySvg(latenciesMs: number[], p: Percentiles, title: string): string {
  const W = 760;
  const H = 360;
  const left = 60;
  const right = 60;
  const top = 40;
  const bottom = 50;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  // The x axis ends at the max, on a round number, so the tail is visible.
  const step = niceStep(Math.max(1, p.max) / 8);
  const xMax = Math.ceil(Math.max(1, p.max) / step) * step;
  const bins = 60;
  const counts = new Array<number>(bins).fill(0);
  for (const v of sorted) counts[Math.min(bins - 1, Math.floor((v / xMax) * bins))]! += 1;
  const maxCount = Math.max(1, ...counts);
  const x = (ms: number) => left + (ms / xMax) * plotW;
  const yCount = (n: number) => top + plotH - (n / maxCount) * plotH;
  const yShare = (share: number) => top + plotH - share * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  );
  const barW = plotW / bins;
  counts.forEach((n, i) => {
    if (n === 0) return;
    parts.push(
      `<rect x="${(left + i * barW).toFixed(1)}" y="${yCount(n).toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${(top + plotH - yCount(n)).toFixed(1)}" fill="#8fb8de"/>`,
    );
  });
  // CDF
  const points: string[] = [];
  const stride = Math.max(1, Math.floor(sorted.length / 400));
  for (let i = 0; i < sorted.length; i += stride)
    points.push(`${x(sorted[i]!).toFixed(1)},${yShare((i + 1) / sorted.length).toFixed(1)}`);
  if (sorted.length) points.push(`${x(sorted[sorted.length - 1]!).toFixed(1)},${yShare(1).toFixed(1)}`);
  parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="#1f4e79" stroke-width="2"/>`);
  // Axes and ticks
  parts.push(
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left + plotW}" y1="${top}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`,
  );
  for (let ms = 0; ms <= xMax + 1e-9; ms += step) {
    parts.push(
      `<line x1="${x(ms)}" y1="${top + plotH}" x2="${x(ms)}" y2="${top + plotH + 5}" stroke="#333"/>`,
      `<text x="${x(ms)}" y="${top + plotH + 18}" text-anchor="middle">${round(ms)}</text>`,
    );
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${H - 10}" text-anchor="middle">end-to-end latency, ingest → target server (ms)</text>`,
    `<text x="14" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${top + plotH / 2})">deliveries per bin</text>`,
    `<text x="${W - 12}" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(90 ${W - 12} ${top + plotH / 2})">cumulative share (line)</text>`,
  );
  for (const share of [0, 0.5, 1]) {
    parts.push(`<text x="${left + plotW + 6}" y="${yShare(share) + 4}">${share * 100}%</text>`);
  }
  parts.push(`<text x="${left - 6}" y="${top + 4}" text-anchor="end">${maxCount}</text>`);
  for (const [label, value, color] of [
    ['p50', p.p50, '#2e7d32'],
    ['p95', p.p95, '#ef6c00'],
    ['p99', p.p99, '#c62828'],
  ] as const) {
    parts.push(
      `<line x1="${x(value)}" y1="${top}" x2="${x(value)}" y2="${top + plotH}" stroke="${color}" stroke-dasharray="4 3"/>`,
      `<text x="${x(value) + 3}" y="${top + 12 + (label === 'p95' ? 14 : label === 'p99' ? 28 : 0)}" fill="${color}">${label} ${round(value)} ms</text>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * power) return m * power;
  return 10 * power;
}

const round = (v: number) => (v >= 100 ? Math.round(v) : Math.round(v * 10) / 10);
