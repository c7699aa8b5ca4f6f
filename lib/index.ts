export * from './replicate-webhooks';
export { HANDLER_RUNTIME } from './handler-code';
