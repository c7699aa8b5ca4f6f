/** Reading handler wiring from environment variables, failing at init with a clear message. */

export function requiredVariable(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

export function integerVariable(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`environment variable ${name} must be a non-negative integer`);
  return value;
}

export function booleanVariable(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === 'false') return raw === 'true';
  throw new Error(`environment variable ${name} must be true or false`);
}

export function listVariable(env: NodeJS.ProcessEnv, name: string, fallback: readonly string[]): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}

/**
 * The environment variables for a handler's wiring, one per setting that is set: the inverse of
 * reading them above. Lists become comma-separated, as `listVariable` reads them.
 */
export function environmentOf<W extends object>(names: { readonly [K in keyof W]-?: string }, wiring: W): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [setting, value] of Object.entries(wiring) as Array<[keyof W, unknown]>) {
    if (value === undefined) continue;
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a setting is a string, a number or a boolean
    environment[names[setting]] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return environment;
}
