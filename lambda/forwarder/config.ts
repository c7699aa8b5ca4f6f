/** The forwarder's wiring, read once from environment variables set by the construct. */
import { requiredVariable } from '../shared/env';
import { FORWARDER_ENV as ENV } from './settings';

export interface ForwarderConfig {
  readonly queueUrl: string;
}

export function readForwarderConfig(env: NodeJS.ProcessEnv = process.env): ForwarderConfig {
  return { queueUrl: requiredVariable(env, ENV.queueUrl) };
}
