import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendUnsignedPayloads } from '../../../lambda/archiver/unsigned-payload';

/** An S3 endpoint that answers 200 to everything and keeps each request's headers. */
async function recordingEndpoint() {
  const seen: Array<{ method: string; headers: IncomingHttpHeaders }> = [];
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      seen.push({ method: request.method ?? '', headers: request.headers });
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '2' });
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { seen, endpoint, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

test('uploads are not hashed for SigV4 (UNSIGNED-PAYLOAD), still carry their CRC32, and are signed otherwise', async () => {
  const server = await recordingEndpoint();
  const client = (unsigned: boolean) => {
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    if (unsigned) sendUnsignedPayloads(s3);
    return s3;
  };
  try {
    const body = Buffer.alloc(64 * 1024, 7);
    const plain = client(false);
    const ours = client(true);
    await plain.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: body }));
    await ours.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: body }));
    await ours.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }));
    const [signedPut, unsignedPut, get] = server.seen;
    // Without it the SDK hashes the whole body into the signature.
    expect(signedPut.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(unsignedPut.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(unsignedPut.headers['x-amz-checksum-crc32']).toBe(signedPut.headers['x-amz-checksum-crc32']);
    expect(unsignedPut.headers['x-amz-checksum-crc32']).toEqual(expect.any(String));
    expect(unsignedPut.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    // A request without a body keeps the SDK's own (the empty body's hash).
    expect(get.headers['x-amz-content-sha256']).not.toBe('UNSIGNED-PAYLOAD');
    plain.destroy();
    ours.destroy();
  } finally {
    await server.close();
  }
});
