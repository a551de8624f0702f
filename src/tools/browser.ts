/** Opening a URL in the user's browser (`audit-lab ui`): `open` on macOS, `xdg-open` elsewhere; failing is no error. */
import { execa } from 'execa';

/** The argv that opens `url` on `platform`. */
export function browserArgv(url: string, platform: NodeJS.Platform = process.platform): [string, string] {
  return [platform === 'darwin' ? 'open' : 'xdg-open', url];
}

/**
 * Starts the opener and leaves it: it is not waited for, and a missing opener or one that fails
 * only means the user opens the printed URL; resolves whether it started.
 */
export async function openBrowser(url: string, platform: NodeJS.Platform = process.platform): Promise<boolean> {
  const [file, arg] = browserArgv(url, platform);
  try {
    const child = execa(file, [arg], { detached: true, stdio: 'ignore', reject: false, cleanup: false });
    child.unref();
    const started = await new Promise<boolean>((resolve) => {
      child.once('spawn', () => resolve(true));
      child.once('error', () => resolve(false));
    });
    child.catch(() => {});
    return started;
  } catch {
    return false;
  }
}
