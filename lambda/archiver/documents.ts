/**
 * The archive's documents beside the outputs, in the folder of the job's kind: manifest.json (the
 * terminal payload, verbatim, and every output: source → archived copy, and the failures) and,
 * when the construct's `predictionDocument` asks for it, prediction.json (training.json for a
 * training: the payload alone).
 */
import { CopyObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { manifestKey, predictionDocumentKey } from '../shared/archive-layout';
import { manifestDocument, objectLocation, type ArchiveManifest, type ObjectLocation } from '../shared/completion-message';
import { CompletionKind } from '../shared/prediction';
import type { ClaimedPrediction } from './progress';

export class ArchiveDocuments {
  constructor(
    private readonly s3: S3Client,
    private readonly bucketName: string,
    private readonly archivePrefix: string,
  ) {}

  predictionLocation(predictionId: string, kind = CompletionKind.PREDICTION): ObjectLocation {
    return objectLocation(this.bucketName, predictionDocumentKey(this.archivePrefix, predictionId, kind));
  }

  manifestLocation(predictionId: string, kind = CompletionKind.PREDICTION): ObjectLocation {
    return objectLocation(this.bucketName, manifestKey(this.archivePrefix, predictionId, kind));
  }

  /** The terminal payload as the verifier recorded it: from the item, or from where it was spilled. */
  async loadPayload(prediction: ClaimedPrediction): Promise<string> {
    if (!prediction.payloadLocation) return prediction.payload ?? '';
    const object = await this.s3.send(
      new GetObjectCommand({ Bucket: prediction.payloadLocation.bucket, Key: prediction.payloadLocation.key }),
    );
    return (await object.Body?.transformToString('utf8')) ?? '';
  }

  /** prediction.json: a server-side copy of a spilled payload (its exact bytes), else the item's. */
  async writePrediction(prediction: ClaimedPrediction, kind = prediction.kind): Promise<ObjectLocation> {
    const location = this.predictionLocation(prediction.predictionId, kind);
    const spilled = prediction.payloadLocation;
    if (spilled) {
      await this.s3.send(
        new CopyObjectCommand({
          Bucket: location.bucket,
          Key: location.key,
          CopySource: `${spilled.bucket}/${encodeURIComponent(spilled.key).replace(/%2F/g, '/')}`,
          ContentType: 'application/json',
          MetadataDirective: 'REPLACE',
        }),
      );
    } else {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: location.bucket,
          Key: location.key,
          Body: prediction.payload ?? '',
          ContentType: 'application/json',
        }),
      );
    }
    return location;
  }

  /** manifest.json, with `payloadText` (the terminal payload, as `loadPayload` read it) as its `payload`, byte for byte. */
  async writeManifest(manifest: Omit<ArchiveManifest, 'payload'>, payloadText: string): Promise<ObjectLocation> {
    const location = this.manifestLocation(manifest.predictionId, manifestKind(manifest));
    await this.s3.send(
      new PutObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        Body: manifestDocument(manifest, payloadText),
        ContentType: 'application/json',
      }),
    );
    return location;
  }

  async readManifest(predictionId: string, kind = CompletionKind.PREDICTION): Promise<ArchiveManifest> {
    const { bucket, key } = this.manifestLocation(predictionId, kind);
    const object = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse((await object.Body?.transformToString('utf8')) ?? '{}') as ArchiveManifest;
  }

  async readManifestIfPresent(predictionId: string, kind = CompletionKind.PREDICTION): Promise<ArchiveManifest | undefined> {
    try {
      return await this.readManifest(predictionId, kind);
    } catch (error) {
      // Without s3:ListBucket (not granted), S3 answers a missing key with 403 rather than 404.
      // This probe only saves work, so either means: archive as usual.
      const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
      if ((error as Error)?.name === 'NoSuchKey' || status === 403 || status === 404) return undefined;
      throw error;
    }
  }
}

/** The manifest's own kind: a manifest without one was written for a prediction. */
export const manifestKind = (manifest: Pick<ArchiveManifest, 'kind'>): CompletionKind =>
  manifest.kind === CompletionKind.TRAINING ? CompletionKind.TRAINING : CompletionKind.PREDICTION;
