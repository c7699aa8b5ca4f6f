/** Local mode's printed lines: what comes from a payload cannot reach the terminal as control sequences. */
import { buildCompletionMessage, objectLocation } from '../../lambda/shared/completion-message';
import { describeNotification } from '../../local/notification-printer';

test('a model name carrying an escape sequence is printed inert', () => {
  const at = (key: string) => objectLocation('b', key);
  const { message } = buildCompletionMessage(
    { id: 'p1', status: 'failed', model: 'owner/\u001b]0;pwned\u0007name\u009b2J', output: null, error: 'x' },
    { predictionId: 'p1', status: 'failed', archivedAt: 't', prediction: at('p.json'), files: [], failures: [] },
    at('m.json'),
  );
  const printed = describeNotification(message);
  expect(printed).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  expect(printed).toContain('owner/\ufffd]0;pwned\ufffdname\ufffd2J');
});
