import { randomBytes } from 'node:crypto';

/**
 * Fencing tokens only need to be unique per acquisition, across every process sharing a store;
 * clients never see them. A random prefix drawn once per process (96 bits) and a counter give
 * that for far less than a random UUID per request, which every replay would pay for too.
 */
const processPrefix = randomBytes(12).toString('base64url');
let issued = 0;

/** A token no other acquisition, in this process or another, has had. */
export function newFencingToken(): string {
  issued++;
  return `${processPrefix}.${issued.toString(36)}`;
}
