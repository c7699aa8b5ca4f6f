/**
 * The forwarder's settings, defined once: what the construct and local mode wire (each one an
 * environment variable). Pure, so the construct imports it without the handler's code.
 */
import { environmentOf } from '../shared/env';

/** What the construct (or local mode) tells the forwarder. */
export interface ForwarderWiring {
  /** The archive queue: one message per finished prediction. */
  readonly queueUrl: string;
}

export const FORWARDER_ENV: { readonly [K in keyof ForwarderWiring]-?: string } = {
  queueUrl: 'ARCHIVE_QUEUE_URL',
};

/** The environment variables for `wiring`. */
export function forwarderEnvironment(wiring: ForwarderWiring): Record<string, string> {
  return environmentOf(FORWARDER_ENV, wiring);
}
