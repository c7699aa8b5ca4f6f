/**
 * Tells the Replicate API stand-in about a prediction, so the reconciler finds it there as it
 * would at Replicate: `PUT /_standin/predictions/{id}`, the stand-in's own route (not Replicate's),
 * with the stand-in's bearer token.
 */
export interface ReplicateApiStandInTarget {
  /** The stand-in's base URL, e.g. local mode's `replicateApi.endpoint`. */
  readonly url: string;
  readonly token: string;
}

/** Registers the prediction (its whole JSON) under its id; throws with the stand-in's answer on failure. */
export async function registerPrediction(target: ReplicateApiStandInTarget, prediction: string): Promise<void> {
  const { id } = JSON.parse(prediction) as { id: string };
  const url = new URL(`/_standin/predictions/${encodeURIComponent(id)}`, target.url);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'PUT',
      headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' },
      body: prediction,
    });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause;
    throw new Error(`PUT ${url.href} failed: ${cause?.message ?? (error as Error).message}`, { cause: error });
  }
  const text = await response.text();
  if (!response.ok) throw new Error(`the Replicate API stand-in answered ${response.status}: ${text.slice(0, 200)}`);
}
