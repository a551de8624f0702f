/**
 * --window: the stretch of event time that rates are taken over. Rates are kept per slot of
 * event time (slots.ts), at most 60 slots a window so that memory per group is fixed: one-second
 * slots up to a minute, wider ones beyond (a 1h window has one-minute slots).
 */
import { parseDurationMicros } from '../audit/filter.js';
import { UserError } from '../errors.js';

export const SECOND = 1_000_000;
const MAX_SLOTS = 60;

export interface Window {
  /** Its length in seconds: the one asked for, rounded up to whole slots (61s is 62s). */
  seconds: number;
  slotSeconds: number;
  /** How many slots it spans. */
  slots: number;
}

export function windowOf(seconds: number): Window {
  const slotSeconds = Math.ceil(seconds / MAX_SLOTS);
  const slots = Math.ceil(seconds / slotSeconds);
  return { seconds: slots * slotSeconds, slotSeconds, slots };
}

/** A --window value: a Go-style duration of whole seconds, 1s or more. */
export function parseWindow(value: string): Window {
  const micros = parseDurationMicros(value.trim());
  if (micros === undefined || micros < SECOND || micros % SECOND !== 0) {
    throw new UserError(
      `--window ${JSON.stringify(value)} is not a duration of whole seconds`,
      'use e.g. --window 30s, --window 1m or --window 1h (1s or more)',
    );
  }
  return windowOf(micros / SECOND);
}

/** 45s, 1m, 1m30s, 2h, 1h0m5s: how Go prints a duration, without its zero parts at the end. */
export function formatSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const parts = h > 0 ? [`${h}h`, `${m}m`, `${s}s`] : m > 0 ? [`${m}m`, `${s}s`] : [`${s}s`];
  while (parts.length > 1 && /^0[ms]$/.test(parts.at(-1)!)) parts.pop();
  return parts.join('');
}
