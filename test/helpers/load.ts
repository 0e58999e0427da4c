import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sendOk } from '../../src/testing/index.js';

/**
 * Fire `duplicates` identical requests per key at once, spread round-robin over `urls`, `parallelKeys`
 * keys at a time; assert every answer is 201 and byte-identical per key. Returns the keys used.
 */
export async function duplicateStorm(
  urls: string[],
  { keys, duplicates, parallelKeys = 10 }: { keys: number; duplicates: number; parallelKeys?: number },
): Promise<void> {
  const allKeys = Array.from({ length: keys }, () => randomUUID());
  let next = 0;
  for (let i = 0; i < allKeys.length; i += parallelKeys) {
    await Promise.all(
      allKeys.slice(i, i + parallelKeys).map(async (key) => {
        const responses = await Promise.all(
          Array.from({ length: duplicates }, () =>
            sendOk(urls[next++ % urls.length]!, {
              path: '/v1/charges',
              headers: [
                ['content-type', 'application/json'],
                ['idempotency-key', key],
              ],
              body: JSON.stringify({ amount: 100, key }),
            }),
          ),
        );
        for (const response of responses) {
          assert.equal(response.status, 201, `key ${key}: ${response.status} ${response.body.toString()}`);
          assert.equal(Buffer.compare(response.body, responses[0]!.body), 0, `responses for ${key} differ`);
        }
      }),
    );
  }
}
