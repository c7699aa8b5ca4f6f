// The baseline: a bare fetch piped into a multipart upload with the same part size and queue
// size, nothing else (no allow-list, no hashing, no state). Prints wall time and peak RSS.
const http = require('node:http');
const { S3Client } = require('@aws-sdk/client-s3');
const { Upload } = require('@aws-sdk/lib-storage');

async function main() {
  const [url, bucket, key, partSize, queueSize] = process.argv.slice(2);
  const s3 = new S3Client({});
  const started = process.hrtime.bigint();
  const response = await new Promise((resolve, reject) => http.get(url, resolve).on('error', reject));
  await new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: response },
    partSize: Number(partSize),
    queueSize: Number(queueSize),
  }).done();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(`${JSON.stringify({ ms, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
