/** Aligned plain-text tables, as the commands and the bench scripts print them. */

/**
 * The lines of a table: a header, a rule, then the rows. The first `leftColumns` columns are
 * aligned left (names), the rest right (numbers).
 */
export function textTable(head: readonly string[], rows: readonly (readonly string[])[], leftColumns = 1, rule = true): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(head), ...(rule ? [widths.map((w) => '-'.repeat(w)).join('  ')] : []), ...rows.map(line)];
}
