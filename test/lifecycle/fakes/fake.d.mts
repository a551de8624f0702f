/** What a fake tool answers (fake.mjs). */
export function answer(
  tool: string,
  argv: string[],
  stdin: string,
  env: NodeJS.ProcessEnv,
): Promise<{ stdout: string; stderr: string; code: number }>;
