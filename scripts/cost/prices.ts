/**
 * The price list: us-east-1 list prices as of 2026, free tiers left out. Each price cites the page
 * it is read from, in the unit that page uses.
 */

/** https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, first 300 million requests a month): $1.00 per million. */
export const HTTP_API_PER_MILLION_REQUESTS = 1.0;
/** https://aws.amazon.com/lambda/pricing/ (Arm, first 6 billion GB-seconds a month): $0.0000133334 per GB-second. */
export const LAMBDA_ARM_PER_GB_SECOND = 0.0000133334;
/** https://aws.amazon.com/lambda/pricing/ (requests): $0.20 per million. */
export const LAMBDA_PER_MILLION_REQUESTS = 0.2;
/**
 * https://aws.amazon.com/dynamodb/pricing/on-demand/ (write request units): $0.625 per million.
 * Reads are priced separately (DYNAMODB_PER_MILLION_RRU): conditions and ReturnValues cost no read units.
 */
export const DYNAMODB_PER_MILLION_WRU = 0.625;
/**
 * https://aws.amazon.com/dynamodb/pricing/on-demand/ (read request units): $0.125 per million. Only
 * the reconciler reads: one strongly consistent read unit per item up to 4 KB, half one eventually
 * consistent (a query of an index).
 */
export const DYNAMODB_PER_MILLION_RRU = 0.125;
/**
 * https://aws.amazon.com/dynamodb/pricing/on-demand/ (reading data from DynamoDB Streams): $0.02 per
 * 100,000 streams read request units, one per GetRecords call, except GetRecords by Lambda triggers
 * and by global tables, which is free. DynamoDB's guide, "Evaluate your DynamoDB streams usage"
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CostOptimization_StreamsUsage.html):
 * "Read requests made by AWS Lambda-based consumers of DynamoDB Streams are free, whereas calls
 * made by consumers of any other kind are charged". The only reader of the table's stream is the
 * forwarder's event source, a Lambda function's. (The EventBridge Pipe that had this job before
 * is a consumer of another kind: its reads were billed, $8.41 a month.)
 */
export const DYNAMODB_STREAMS_LAMBDA_PER_100K_READS = 0;
/**
 * https://aws.amazon.com/sqs/pricing/ (standard queues, after the first million requests a month):
 * $0.40 per million API requests, each 64 KB chunk of a payload one request; a batch call is one
 * request for up to 10 messages.
 */
export const SQS_PER_MILLION_REQUESTS = 0.4;
/** https://aws.amazon.com/s3/pricing/ (S3 Standard PUT, COPY, POST, LIST): $0.005 per 1,000 requests. */
export const S3_PER_THOUSAND_PUTS = 0.005;
/** https://aws.amazon.com/s3/pricing/ (S3 Standard GET, SELECT): $0.0004 per 1,000 requests. */
export const S3_PER_THOUSAND_GETS = 0.0004;
/** https://aws.amazon.com/s3/pricing/ (S3 Standard, first 50 TB): $0.023 per GB-month. */
export const S3_STANDARD_PER_GB_MONTH = 0.023;
/** https://aws.amazon.com/sns/pricing/ (standard topics): $0.50 per million publishes, each 64 KB chunk counting as one; deliveries to SQS and Lambda are free. */
export const SNS_PER_MILLION_PUBLISHES = 0.5;
/** https://aws.amazon.com/eventbridge/pricing/: scheduled rules' events on the default bus are free. */
export const EVENTBRIDGE_SCHEDULED_PER_MILLION = 0;
/** https://aws.amazon.com/secrets-manager/pricing/: $0.40 per secret-month. */
export const SECRET_PER_MONTH = 0.4;
/** https://aws.amazon.com/secrets-manager/pricing/: $0.05 per 10,000 API calls. */
export const SECRETS_MANAGER_PER_10K_CALLS = 0.05;
/** https://aws.amazon.com/kms/pricing/: $1 per customer managed key-month. */
export const KMS_KEY_PER_MONTH = 1;
/** https://aws.amazon.com/kms/pricing/: $0.03 per 10,000 requests. */
export const KMS_PER_10K_REQUESTS = 0.03;
/** https://aws.amazon.com/cloudwatch/pricing/ (standard resolution alarm): $0.10 per alarm metric-month. */
export const CLOUDWATCH_ALARM_METRIC_PER_MONTH = 0.1;
/** https://aws.amazon.com/cloudwatch/pricing/ (dashboards, the first 3 of an account free): $3.00 per dashboard-month. */
export const CLOUDWATCH_DASHBOARD_PER_MONTH = 3;
/** https://aws.amazon.com/cloudwatch/pricing/ (custom metrics, first 10,000): $0.30 per metric-month. */
export const CLOUDWATCH_METRIC_PER_MONTH = 0.3;
/** https://aws.amazon.com/cloudwatch/pricing/ (logs, standard class ingestion): $0.50 per GB. */
export const CLOUDWATCH_LOGS_INGESTION_PER_GB = 0.5;
/** https://aws.amazon.com/cloudwatch/pricing/ (logs storage): $0.03 per GB-month. */
export const CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH = 0.03;

/** Lambda's duration price for a function's architecture; only Arm is on the list. */
export function lambdaPricePerGbSecond(functionName: string, architecture: string): number {
  if (architecture !== 'arm64')
    throw new Error(`cost estimate: the ${functionName} runs on ${architecture}; only arm64 is priced`);
  return LAMBDA_ARM_PER_GB_SECOND;
}
