/**
 * A terminal taken over by a full-screen view (`top`), as top and htop do: the alternate screen
 * (the user's scrollback comes back untouched), no cursor, no line wrap (a line too long for the
 * width is clipped rather than scrolling the screen), and keys read one by one (raw mode). All of
 * it is undone by restore(), once, whatever ended the view.
 */

/** Enter the alternate screen, hide the cursor, stop wrapping lines. */
export const ENTER_FULL_SCREEN = '\u001b[?1049h\u001b[?25l\u001b[?7l';
/** Wrap lines, show the cursor, leave the alternate screen: ENTER_FULL_SCREEN undone. */
export const LEAVE_FULL_SCREEN = '\u001b[?7h\u001b[?25h\u001b[?1049l';

export interface ScreenOut {
  write(chunk: string): unknown;
  columns?: number;
  rows?: number;
  on?(event: 'resize', listener: () => void): unknown;
  off?(event: 'resize', listener: () => void): unknown;
}

export interface KeysIn {
  setRawMode?(raw: boolean): unknown;
  setEncoding?(encoding: BufferEncoding): unknown;
  on(event: 'data', listener: (chunk: string | Buffer) => void): unknown;
  off(event: 'data', listener: (chunk: string | Buffer) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface FullScreen {
  /** Replaces what the screen shows with these lines, from the top left. */
  draw(lines: readonly string[]): void;
  /** What draw() may use: lines of at most `cols` columns, `rows` of them. */
  size(): { cols: number; rows: number };
  restore(): void;
}

/**
 * Takes the terminal over: `key` gets each key pressed (escape sequences, such as arrows, are
 * ignored), `resize` each change of size.
 */
export function takeOver(out: ScreenOut, input: KeysIn, on: { key(key: string): void; resize(): void }): FullScreen {
  const onData = (chunk: string | Buffer) => {
    const text = String(chunk);
    if (text.startsWith('\u001b')) return;
    for (const key of text) on.key(key);
  };
  const onResize = () => on.resize();
  out.write(ENTER_FULL_SCREEN);
  input.setRawMode?.(true);
  input.setEncoding?.('utf8');
  input.on('data', onData);
  input.resume();
  out.on?.('resize', onResize);
  let restored = false;
  return {
    // Each line clears what an older, longer one left; what is below the last is cleared too.
    draw: (lines) => void out.write(`\u001b[H${lines.map((l) => `${l}\u001b[K`).join('\r\n')}\u001b[J`),
    // One column short of the screen: with line wrap off, a character written in the last column
    // leaves the cursor on it, and the erase after the line (or below the last one) would take
    // it, so an 80-column line showed 79 (LAST SEE, 3m11 for 3m11s).
    size: () => ({ cols: (out.columns || 80) - 1, rows: out.rows || 24 }),
    restore: () => {
      if (restored) return;
      restored = true;
      out.off?.('resize', onResize);
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      out.write(LEAVE_FULL_SCREEN);
    },
  };
}
