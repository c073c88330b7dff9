/** Aligned plain-text tables, as the CLI's commands and the benchmarks print them: a leaf both floors import. */

/**
 * The lines of a table: a header, a rule, then the rows. The first `leftColumns` columns are
 * aligned left (names), the rest right (numbers); no line ends in padding.
 */
export function textTable(head: readonly string[], rows: readonly (readonly string[])[], leftColumns = 1, rule = true): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(head), ...(rule ? [widths.map((w) => '-'.repeat(w)).join('  ')] : []), ...rows.map(line)];
}
