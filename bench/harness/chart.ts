import type { VariantName } from '../shared/protocol.js';
import { type ScenarioName, scenarios } from './scenarios.js';
import type { Cell } from './summary.js';

const colors: Record<VariantName, string> = {
  bare: '#999999',
  'idemkit-memory': '#1f5fbf',
  'idemkit-sqlite': '#3f7fd9',
  'idemkit-postgres': '#6b9ee6',
  'idemkit-redis': '#98bdf0',
  'express-idempotency': '#d98a2b',
  'node-idempotency': '#b0673a',
  'floor-memory': '#333333',
  'floor-postgres': '#555555',
};

const charted: ScenarioName[] = ['first', 'replay', 'large-first', 'large-replay'];

/**
 * Throughput relative to bare, one group of horizontal bars per scenario, as a standalone SVG.
 * Bars of variants that were incorrect in that scenario are hatched red and say so.
 */
export function throughputChart(cells: readonly Cell[], variants: readonly VariantName[]): string {
  const shown = variants.filter((variant) => variant !== 'bare');
  const groups = charted.filter((scenario) => cells.some((cell) => cell.scenario === scenario));
  const labelWidth = 190;
  const plotWidth = 560;
  const barHeight = 16;
  const barGap = 4;
  const groupGap = 30;
  const top = 50;
  const groupHeight = shown.length * (barHeight + barGap) + groupGap;
  // Incorrect results in scenarios the chart has no bars for (concurrent duplicates) get a note.
  const notes = cells
    .filter((cell) => cell.verdict.status === 'incorrect' && !charted.includes(cell.scenario))
    .map((cell) => `✘ ${cell.variant}, ${cell.scenario}: ${cell.verdict.problems[0] ?? 'incorrect'}`);
  const axis = top + groups.length * groupHeight + 30;
  const height = axis + (notes.length > 0 ? 10 + notes.length * 18 : 0);
  const width = labelWidth + plotWidth + 90;
  const ratios = cells.flatMap((cell) => (cell.ratio === null ? [] : [cell.ratio]));
  const maxRatio = Math.max(1.2, Math.ceil(Math.max(...ratios, 0) * 5) / 5);
  const x = (ratio: number): number => labelWidth + (ratio / maxRatio) * plotWidth;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    '<defs><pattern id="wrong" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">',
    '<rect width="6" height="6" fill="#f3c4c4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c0392b" stroke-width="3"/></pattern></defs>',
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Throughput relative to bare Express (median of rounds; higher is better)</text>`,
  ];
  for (let tick = 0; tick <= maxRatio + 1e-9; tick += 0.2) {
    const at = x(tick);
    const strong = Math.abs(tick - 1) < 1e-9;
    parts.push(
      `<line x1="${at}" y1="${top - 8}" x2="${at}" y2="${axis - 25}" stroke="${strong ? '#333' : '#e2e2e2'}" ${strong ? 'stroke-dasharray="4 3"' : ''}/>`,
      `<text x="${at}" y="${axis - 10}" text-anchor="middle" fill="#555">${tick.toFixed(1)}×</text>`,
    );
  }
  groups.forEach((scenario, g) => {
    const y0 = top + g * groupHeight;
    parts.push(`<text x="8" y="${y0 + 2}" font-weight="bold">${escapeXml(scenarios[scenario].title)}</text>`);
    shown.forEach((variant, i) => {
      const cell = cells.find((c) => c.scenario === scenario && c.variant === variant);
      const y = y0 + 10 + i * (barHeight + barGap);
      parts.push(`<text x="${labelWidth - 8}" y="${y + barHeight - 4}" text-anchor="end">${variant}</text>`);
      if (!cell || cell.ratio === null) {
        parts.push(`<text x="${labelWidth + 4}" y="${y + barHeight - 4}" fill="#888">not measured</text>`);
        return;
      }
      const wrong = cell.verdict.status === 'incorrect';
      const end = x(cell.ratio);
      parts.push(
        `<rect x="${labelWidth}" y="${y}" width="${Math.max(1, end - labelWidth)}" height="${barHeight}" fill="${wrong ? 'url(#wrong)' : colors[variant]}"/>`,
        `<text x="${end + 5}" y="${y + barHeight - 4}" fill="${wrong ? '#c0392b' : '#222'}">${cell.ratio.toFixed(2)}×${wrong ? ' ✘ incorrect' : ''}</text>`,
      );
    });
  });
  notes.forEach((note, i) => {
    parts.push(`<text x="8" y="${axis + 14 + i * 18}" fill="#c0392b">${escapeXml(note)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
