/**
 * One precedence rule for every resource the construct creates:
 * our secure defaults < the user's props < the wiring the construct cannot work without.
 */
export function consolidateProps<T extends object>(
  defaults: Partial<T>,
  userProps: Partial<T> | undefined,
  wiring: Partial<T> = {},
): T {
  return { ...defaults, ...definedOnly(userProps ?? {}), ...definedOnly(wiring) } as T;
}

/** Either an existing resource or props for a new one, never both: a clear error at synth. */
export function checkExistingOrProps(existingName: string, existing: unknown, propsName: string, props: unknown): void {
  if (existing !== undefined && props !== undefined) {
    throw new Error(`ReplicateWebhooks: pass either ${existingName} or ${propsName}, not both.`);
  }
}

function definedOnly<T extends object>(props: T): Partial<T> {
  return Object.fromEntries(Object.entries(props).filter(([, value]) => value !== undefined)) as Partial<T>;
}
