/** Local mode's printed lines: what comes from a payload cannot reach the terminal as control sequences. */
import { buildCompletionMessage, objectLocation } from '../../lambda/shared/completion-message';
import { CompletionKind } from '../../lambda/shared/prediction';
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

test('prediction.json (training.json) is printed only when it was written; manifest.json always', () => {
  const at = (key: string) => objectLocation('b', key);
  const build = (kind: CompletionKind, prediction?: ReturnType<typeof at>) =>
    describeNotification(
      buildCompletionMessage(
        { id: 'p1', kind, status: 'succeeded', output: null, error: null },
        {
          predictionId: 'p1',
          status: 'succeeded',
          archivedAt: 't',
          ...(prediction ? { prediction } : {}),
          files: [],
          failures: [],
        },
        at('predictions/p1/manifest.json'),
      ).message,
    ).split('\n');
  expect(build(CompletionKind.PREDICTION).slice(1)).toEqual(['    manifest.json    s3://b/predictions/p1/manifest.json']);
  expect(build(CompletionKind.PREDICTION, at('predictions/p1/prediction.json')).slice(1)).toEqual([
    '    prediction.json  s3://b/predictions/p1/prediction.json',
    '    manifest.json    s3://b/predictions/p1/manifest.json',
  ]);
  expect(build(CompletionKind.TRAINING, at('trainings/p1/training.json'))[1]).toBe(
    '    training.json    s3://b/trainings/p1/training.json',
  );
});
