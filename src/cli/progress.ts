/** A one-line progress bar on stderr, drawn only when stderr is a terminal; silent otherwise. */
export interface Progress {
  update(done: number, total: number, label: string): void;
  finish(): void;
}

/** A progress bar for `stream` (default stderr); a no-op when it is not a TTY. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update: () => {}, finish: () => {} };
  const start = Date.now();
  let drawn = false;
  return {
    update(done, total, label) {
      const width = 24;
      const filled = total > 0 ? Math.round((width * done) / total) : 0;
      const secs = ((Date.now() - start) / 1000).toFixed(1);
      const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${label} (${secs} s)`;
      stream.write(`\r\x1b[2K${line.slice(0, (stream.columns || 80) - 1)}`);
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\r\x1b[2K');
    },
  };
}
