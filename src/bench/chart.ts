/** An SVG chart of a bench report: total footprint and total time per mode × runtime, side by side. */
import { formatMiB } from '../core/units.js';
import type { BenchReport } from './run.js';

const COLORS: Readonly<Record<string, string>> = { copy: '#d9534f', sab: '#f0ad4e', map: '#2a9d8f' };

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

/**
 * Round axis ticks from 0 to at least `max`: about `count` steps of 1, 2, 2.5 or 5 × 10^k
 * (0, 500, 1000 …, not 0, 620, 1241 …). The last tick is the axis's top.
 */
export function niceTicks(max: number, count = 4): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const n = Math.ceil(max / step - 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

interface Panel {
  title: string;
  unit: string;
  value: (r: BenchReport['results'][number]) => number;
}

/** Renders the report as a standalone SVG document (open it in a browser). */
export function benchChart(report: BenchReport): string {
  const panels: Panel[] = [
    { title: 'Memory footprint (PSS + tmpfs)', unit: 'MiB', value: (r) => r.footprintBytes / 2 ** 20 },
    { title: 'Total time (extract+deliver+job)', unit: 's', value: (r) => r.totalSeconds },
  ];
  const groups = [...new Set(report.results.map((r) => r.runtime))];
  const bar = 34;
  const gap = 10;
  const groupGap = 40;
  const plotH = 220;
  const left = 60;
  const groupW = (g: string): number => report.results.filter((r) => r.runtime === g).length * (bar + gap);
  const panelW = left + groups.reduce((s, g) => s + groupW(g) + groupGap, 0) + 20;
  const width = panelW * panels.length;
  const height = plotH + 130;
  const parts: string[] = [];
  panels.forEach((p, pi) => {
    const x0 = pi * panelW;
    const ticks = niceTicks(Math.max(...report.results.map(p.value), 1e-9) * 1.05);
    const max = ticks.at(-1) as number;
    parts.push(`<text x="${x0 + left}" y="24" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
    parts.push(`<line x1="${x0 + left}" y1="40" x2="${x0 + left}" y2="${40 + plotH}" stroke="#333"/>`);
    parts.push(`<line x1="${x0 + left}" y1="${40 + plotH}" x2="${x0 + panelW - 20}" y2="${40 + plotH}" stroke="#333"/>`);
    for (const v of ticks) {
      const y = 40 + plotH - (plotH * v) / max;
      parts.push(`<text x="${x0 + left - 6}" y="${y + 4}" font-size="11" text-anchor="end">${String(v)}</text>`);
      parts.push(`<line x1="${x0 + left}" y1="${y}" x2="${x0 + panelW - 20}" y2="${y}" stroke="#ddd"/>`);
    }
    parts.push(`<text x="${x0 + 16}" y="${40 + plotH / 2}" font-size="12" transform="rotate(-90 ${x0 + 16} ${40 + plotH / 2})" text-anchor="middle">${esc(p.unit)}</text>`);
    let x = x0 + left + gap;
    for (const g of groups) {
      const rows = report.results.filter((r) => r.runtime === g);
      rows.forEach((r, i) => {
        const v = p.value(r);
        const h = (plotH * v) / max;
        const bx = x + i * (bar + gap);
        parts.push(`<rect x="${bx}" y="${40 + plotH - h}" width="${bar}" height="${h}" fill="${COLORS[r.mode] ?? '#888'}"><title>${esc(`${r.mode} · ${r.runtime}: ${v.toFixed(2)} ${p.unit}`)}</title></rect>`);
        parts.push(`<text x="${bx + bar / 2}" y="${40 + plotH - h - 4}" font-size="10" text-anchor="middle">${v < 10 ? v.toFixed(2) : v.toFixed(0)}</text>`);
        parts.push(`<text x="${bx + bar / 2}" y="${40 + plotH + 14}" font-size="11" text-anchor="middle">${esc(r.mode)}</text>`);
      });
      parts.push(`<text x="${x + groupW(g) / 2 - gap / 2}" y="${40 + plotH + 32}" font-size="12" text-anchor="middle">${esc(g)}</text>`);
      x += groupW(g) + groupGap;
    }
  });
  const d = report.dataset;
  parts.push(`<text x="${left}" y="${height - 40}" font-size="12">${esc(`${d.files} files, ${formatMiB(d.bytes)} of float32 × ${d.columns} columns, ${report.workers} workers; ${report.machine.cores} cores, Node ${report.machine.node}`)}</text>`);
  parts.push(`<text x="${left}" y="${height - 20}" font-size="12">${esc(report.copyOverMap.map((c) => `copy ÷ map footprint, ${c.runtime}: ${c.ratio.toFixed(1)}×`).join(';  '))}</text>`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
