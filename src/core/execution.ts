import { type Awaitable, isPromiseLike } from './awaitable.js';
import { after, type Deadline } from './deadlines.js';
import type { EngineContext, KeyedTrace } from './engine-context.js';
import type { ResolvedRouteOptions } from './options.js';
import { replayableHeaders } from './replay-headers.js';
import type { CapturedResponse } from './request.js';
import type { StoredResponse } from './store.js';
import { callStore } from './store-call.js';

export type AbandonReason = 'error' | 'too-large' | 'aborted';

/**
 * The key is ours: the handler may run. The adapter runs it, then reports back exactly once with
 * `finish(response)` (the engine decides whether to store it) or `abandon(reason)`. Until then the
 * lease is renewed in the background, so a slow but live handler is never taken over.
 *
 * Neither method throws: store trouble at this point is reported through `onEvent`, and the
 * client still gets the handler's response.
 */
export class Execution {
  /** The idempotency key as the client sent it. */
  readonly key: string;
  /** Headers to add to the handler's response (the key, echoed). */
  readonly echoHeaders: ReadonlyArray<[string, string]>;
  /** Responses longer than this are passed through unstored: stop buffering past it. */
  readonly maxResponseBytes: number;

  readonly #context: EngineContext;
  readonly #options: ResolvedRouteOptions;
  readonly #trace: KeyedTrace;
  readonly #storageKey: string;
  readonly #token: string;
  readonly #fingerprint: string;
  readonly #expiresAt: number;
  #renewal: Deadline | undefined;
  #renewWanted: (() => boolean) | undefined;
  #settled = false;

  constructor(
    context: EngineContext,
    options: ResolvedRouteOptions,
    trace: KeyedTrace,
    claim: { storageKey: string; token: string; fingerprint: string; expiresAt: number },
  ) {
    this.#context = context;
    this.#options = options;
    this.#trace = trace;
    this.#storageKey = claim.storageKey;
    this.#token = claim.token;
    this.#fingerprint = claim.fingerprint;
    this.#expiresAt = claim.expiresAt;
    this.key = trace.key;
    this.echoHeaders = [['idempotency-key', trace.key]];
    this.maxResponseBytes = options.maxResponseBytes;
    this.#scheduleRenewal();
  }

  /**
   * The handler answered: store the response if policy says so, else release the key. Settled
   * at once (no promise) when the store answers synchronously.
   */
  finish(response: CapturedResponse): Awaitable<void> {
    if (!this.#settle()) return;
    const { status } = response;
    let keep: boolean;
    try {
      keep = this.#options.storeResponse(status);
    } catch (error) {
      // A failing policy hook must not cost the client its response: store nothing, free the key.
      return this.#release('error', status, error);
    }
    if (!keep) return this.#release('status', status);
    if (response.body.length > this.maxResponseBytes) return this.#release('too-large', status);
    const { store, report } = this.#context;
    const record = { status, headers: replayableHeaders(response.headers), body: response.body };
    const stored = callStore('complete', this.#options.storeTimeout, () =>
      store.complete(this.#storageKey, this.#token, record, this.#expiresAt),
    );
    if (!isPromiseLike(stored)) return this.#completed(record, stored);
    return stored.then(
      (completed) => this.#completed(record, completed),
      (error: unknown) => {
        // The lease now lapses unrenewed, so a later retry runs again: the store could not say otherwise.
        report('store-error', this.#trace, { reason: 'complete', error });
        this.#completed(record, null);
      },
    );
  }

  /** The handler failed, or its response cannot be stored: release the key so a retry runs again. */
  abandon(reason: AbandonReason, details: { status?: number; error?: unknown } = {}): Awaitable<void> {
    if (!this.#settle()) return;
    return this.#release(reason, details.status, details.error);
  }

  /**
   * Stop renewing the lease without settling: for when the client is gone and the adapter cannot
   * tell whether the handler is still working. A later `finish` still stores the response unless
   * a retry took the key over after the lease lapsed.
   */
  stopRenewing(): void {
    this.#renewal?.cancel();
    this.#renewal = undefined;
  }

  /**
   * Ask `wanted` before each renewal, and stop renewing once it says no: `stopRenewing` for an
   * adapter that looks at its client lazily instead of listening for it per request. The lease
   * lapses as early either way: renewals before the client left were made, none after.
   */
  renewWhile(wanted: () => boolean): void {
    this.#renewWanted = wanted;
  }

  /** Renew at a third of the lease, so two renewals can fail before it lapses. */
  #scheduleRenewal(): void {
    this.#renewal = after(this.#options.lease / 3, () => void this.#renew());
  }

  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    this.stopRenewing();
    return true;
  }

  #release(reason: string, status?: number, error?: unknown): Awaitable<void> {
    const { store, report } = this.#context;
    report('executed', this.#trace, { status, stored: false });
    report('not-stored', this.#trace, { status, reason, error });
    const released = callStore('release', this.#options.storeTimeout, () =>
      store.release(this.#storageKey, this.#token),
    );
    if (!isPromiseLike(released)) return this.#released(released, status);
    return released.then(
      (done) => this.#released(done, status),
      (storeError: unknown) => {
        report('store-error', this.#trace, { reason: 'release', error: storeError });
        this.#released(null, status);
      },
    );
  }

  /**
   * After `complete`: true (stored), false (a takeover owns the key now) or null (the store
   * failed, reported already). Waiters in this process get what was stored without reading it
   * back; the record is not written to again, so sharing it is safe (replays copy the header list).
   */
  #completed(record: StoredResponse, stored: boolean | null): void {
    const { report, local } = this.#context;
    if (stored === false) report('lease-lost', this.#trace, { status: record.status });
    local.settle(
      this.#storageKey,
      this.#token,
      stored ? { stored: { fingerprint: this.#fingerprint, response: record } } : {},
    );
    report('executed', this.#trace, { status: record.status, stored: stored === true });
  }

  /** After `release`: true, false (a takeover owns the key now) or null (the store failed, reported already). */
  #released(released: boolean | null, status: number | undefined): void {
    if (released === false) this.#context.report('lease-lost', this.#trace, { status });
    this.#context.local.settle(this.#storageKey, this.#token, {});
  }

  async #renew(): Promise<void> {
    if (this.#settled || this.#renewal === undefined) return;
    if (this.#renewWanted?.() === false) {
      this.#renewal = undefined;
      return;
    }
    const { store, report, now } = this.#context;
    let keepRenewing = true;
    try {
      const renewed = await callStore('renew', this.#options.storeTimeout, () =>
        store.renew(this.#storageKey, this.#token, now() + this.#options.lease),
      );
      if (!renewed && !this.#settled) {
        keepRenewing = false;
        report('lease-lost', this.#trace);
      }
    } catch (error) {
      report('store-error', this.#trace, { reason: 'renew', error });
    }
    // Stopped meanwhile (settled, or the adapter gave up on the handler): stay stopped.
    if (keepRenewing && !this.#settled && this.#renewal !== undefined) this.#scheduleRenewal();
    else this.#renewal = undefined;
  }
}
