/** What is stored for a sink, read from its stream files (for `status` and `sink list`). */
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { openOwnFile } from '../lab/safety.js';
import { listStreamFiles, sinkFileStem } from './names.js';

export interface SinkCount {
  events: number;
  /** stageTimestamp (else requestReceivedTimestamp) of the newest stored event. */
  lastEvent: string | null;
  files: string[];
}

/** A stream file's lines, and its last whole line when `wantLast`, opened as the lab's own files are (never a link, a FIFO or a device). */
async function readCount(path: string, wantLast: boolean): Promise<{ lines: number; last: string | null }> {
  const fh = await openOwnFile(path);
  try {
    let lines = 0;
    for await (const chunk of fh.createReadStream({ autoClose: false, start: 0 }) as AsyncIterable<Buffer>) {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    }
    return { lines, last: wantLast ? await lastLine(fh) : null };
  } finally {
    await fh.close();
  }
}

/** The last whole line of a file, read from its end. */
async function lastLine(fh: FileHandle, maxBytes = 1024 * 1024): Promise<string | null> {
  const { size } = await fh.stat();
  const len = Math.min(size, maxBytes);
  if (len === 0) return null;
  const buf = Buffer.alloc(len);
  await fh.read(buf, 0, len, size - len);
  const text = buf.toString('utf8');
  const end = text.lastIndexOf('\n');
  if (end <= 0) return null;
  const start = text.lastIndexOf('\n', end - 1);
  return text.slice(start + 1, end);
}

function eventTime(line: string | null): string | null {
  if (line === null) return null;
  try {
    const e = JSON.parse(line) as { stageTimestamp?: unknown; requestReceivedTimestamp?: unknown };
    const t = e.stageTimestamp ?? e.requestReceivedTimestamp;
    return typeof t === 'string' ? t : null;
  } catch {
    return null;
  }
}

/** A sink's stream files, oldest first: <stem>.log.N ... <stem>.log.1, <stem>.log (see streams/names.ts). */
export async function sinkStreamFiles(streamsDir: string, sink: string): Promise<string[]> {
  const files = (await listStreamFiles(streamsDir)).get(sinkFileStem(sink));
  if (files === undefined) return [];
  return [...files.rotated, ...(files.live ? [`${sinkFileStem(sink)}.log`] : [])].map((name) => join(streamsDir, name));
}

/** Events stored for a sink: lines of its stream file and the rotated ones. */
export async function countSinkEvents(streamsDir: string, sink: string): Promise<SinkCount> {
  // Newest first, so the last event is found in the first file that has one.
  const files = (await sinkStreamFiles(streamsDir, sink)).reverse();
  let events = 0;
  let lastEvent: string | null = null;
  for (const f of files) {
    const c = await readCount(f, lastEvent === null);
    events += c.lines;
    if (lastEvent === null) lastEvent = eventTime(c.last);
  }
  return { events, lastEvent, files };
}
