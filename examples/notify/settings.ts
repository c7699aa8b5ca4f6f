/** The chat function's environment, named once for the stack and the handler (no AWS SDK here). */
export const CHAT_WEBHOOK_SECRET_ENV = 'CHAT_WEBHOOK_SECRET_ID';
