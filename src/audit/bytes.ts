/**
 * Byte counts as people read them: 512 B, 1.5 KiB, 12 KiB, 340 MiB; `gap` '' for table cells
 * (512B, 1.5KiB). A leaf module, so `top` gets it without loading the policy code.
 */
export function formatBytes(n: number, gap = ' '): string {
  if (n < 1024) return `${Math.round(n)}${gap}B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${gap}${units[i]}`;
}
