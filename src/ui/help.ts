/**
 * The text after a command's options in `--help` (notes and examples), laid out for the width the
 * help is printed at, as commander lays out the options: a note or a block of examples that fits
 * is printed as written; one that does not is wrapped, notes at spaces and examples as a shell
 * reads them (a comment on its own line above its command, the command continued with ` \`), so
 * what is copied from a narrow terminal still runs. The text is ours and ASCII, so a character
 * is a column, and commander's own wrap serves: `--help` loads no other package.
 */
import { type AddHelpTextContext, type AddHelpTextPosition, Command, Help } from 'commander';

const displayWidth = (text: string) => text.length;
const wrapText = (text: string, width: number, indent = 0) =>
  new Help()
    .boxWrap(text, width - indent)
    .split('\n')
    .map((l, i) => (i === 0 ? l : `${' '.repeat(indent)}${l}`));

/** `  $ command   # comment`, as the examples are written. */
const EXAMPLE = /^ {2}\$ (.*?)(?: +(# .*))?$/;
/** A line that names what follows it: Examples:. */
const HEADING = /^[A-Z][\w ]{0,30}:$/;
const PROMPT = '  $ ';
/** Where a command's continuation lines start: under its first word, and a little in. */
const CONTINUED = ' '.repeat(PROMPT.length + 2);

export function layoutHelpText(text: string, width: number): string {
  const out: string[] = [];
  let block: string[] = [];
  let examples = false;
  const flush = () => {
    const fits = block.every((l) => displayWidth(l) <= width);
    out.push(...(fits ? block : examples ? block.flatMap((l) => example(l, width)) : note(block, width)));
    block = [];
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '' || HEADING.test(line)) {
      flush();
      out.push(line);
      continue;
    }
    const isExample = EXAMPLE.test(line);
    if (isExample !== examples) flush();
    examples = isExample;
    block.push(line);
  }
  flush();
  return out.join('\n');
}

/**
 * A note's lines rewrapped. They were broken by hand for a wider screen, so a line joins the next
 * unless it ends a sentence: a line ending in a full stop was meant to end there.
 */
function note(lines: readonly string[], width: number): string[] {
  const paragraphs: string[] = [];
  let current = '';
  for (const line of lines) {
    current = current === '' ? line.trim() : `${current} ${line.trim()}`;
    if (/\.$/.test(line.trim())) {
      paragraphs.push(current);
      current = '';
    }
  }
  if (current !== '') paragraphs.push(current);
  return paragraphs.flatMap((p) => wrapText(p, width));
}

/** One example: as written if it fits; else its comment above it and the command continued with ` \`. */
function example(line: string, width: number): string[] {
  if (displayWidth(line) <= width) return [line];
  const [, command, comment] = EXAMPLE.exec(line)!;
  const together = `${PROMPT}${command}  ${comment}`;
  if (comment !== undefined && displayWidth(together) <= width) return [together];
  const above = comment === undefined ? [] : wrapText(`  ${comment}`, width, 4);
  return [...above, ...continued(command!, width)];
}

/** The words of a command, a quoted string as one, and a flag with the value after it as one (--from preset:x). */
function shellWords(command: string): string[] {
  const words = command.match(/(?:[^\s'"]+|'[^']*'|"(?:\\.|[^"\\])*")+/g) ?? [command];
  const units: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const value = words[i + 1];
    const takesIt = words[i]!.startsWith('-') && value !== undefined && !/^[-|<>&;]/.test(value);
    units.push(takesIt ? `${words[i]} ${value}` : words[i]!);
    if (takesIt) i++;
  }
  return units;
}

/** A command broken between shell words (a quoted string stays whole), each line but the last ending in ` \`. */
function continued(command: string, width: number): string[] {
  const words = shellWords(command);
  const lines: string[] = [];
  let line = PROMPT;
  for (const word of words) {
    const start = line === PROMPT || line === CONTINUED;
    const next = start ? `${line}${word}` : `${line} ${word}`;
    if (start || displayWidth(next) + 2 <= width) line = next;
    else {
      lines.push(`${line} \\`);
      line = `${CONTINUED}${word}`;
    }
  }
  lines.push(line);
  return lines;
}

/** A command (and its subcommands) whose text after the options is laid out for the help's width. */
export class LaidOutHelpCommand extends Command {
  override createCommand(name?: string): Command {
    return new LaidOutHelpCommand(name);
  }

  override addHelpText(position: AddHelpTextPosition, text: string | ((context: AddHelpTextContext) => string)): this {
    if (typeof text !== 'string') return super.addHelpText(position, text);
    return super.addHelpText(position, (context) => {
      const output = this.configureOutput();
      return layoutHelpText(text, (context.error ? output.getErrHelpWidth : output.getOutHelpWidth)?.() ?? 80);
    });
  }
}
