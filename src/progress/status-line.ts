/** Carriage return, then erase to the end of the line (ECMA-48 EL). */
const CLEAR = '\r\x1b[K';

/**
 * One line at the bottom of a terminal, redrawn in place. Log lines go through `writeAbove`,
 * which clears the status line first so that no log line is ever glued to it; the next
 * redraw puts it back under them.
 */
export class StatusLine {
  private shown = false;

  constructor(private readonly out: NodeJS.WritableStream) {}

  draw(text: string): void {
    this.out.write(`\r${text}\x1b[K`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.out.write(CLEAR);
    this.shown = false;
  }

  /** For the logger's `write`: a whole log line, above the status line. */
  readonly writeAbove = (line: string): void => {
    this.clear();
    this.out.write(line);
  };
}
