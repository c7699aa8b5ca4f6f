/** One DynamoDB Local for the whole run (the JVM takes seconds to start); tests make their own tables. */
import { startDynamoDbLocal, type DynamoDbLocal } from '../../local/aws/standins/dynamodb-local';

declare global {
  var dynamoDbLocal: DynamoDbLocal | undefined;
}

export default async function globalSetup(): Promise<void> {
  // Node 20 is supported here until January 2027; the SDK's reminder would drown the output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  // Handlers print embedded-metric JSON to stdout; the tests that check it turn it back on.
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  // Seconds on an idle machine; a minute or more on two busy cores.
  globalThis.dynamoDbLocal = await startDynamoDbLocal({ startTimeoutMs: 180_000 });
  // Workers are started after this and inherit the variable.
  process.env.TEST_DYNAMODB_ENDPOINT = globalThis.dynamoDbLocal.endpoint;
}
