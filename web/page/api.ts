/** Asking the server: same-origin fetches (the auth cookie goes with them), JSON in, a readable error out. */

export class ApiError extends Error {}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { signal, credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (!res.ok) {
    const text = (await res.text()).slice(0, 2000);
    let message = text;
    try {
      const body = JSON.parse(text) as { error?: unknown; hint?: unknown };
      if (typeof body.error === 'string') message = body.hint ? `${body.error} (${String(body.hint)})` : body.error;
    } catch {
      // not JSON: the text as it came
    }
    throw new ApiError(`${res.status} ${res.statusText}: ${message}`);
  }
  return (await res.json()) as T;
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}
