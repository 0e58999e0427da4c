import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VariantName } from '../shared/protocol.js';
import type { RunRecord, ScenarioName } from './scenarios.js';
import { median, percentile } from './statistics.js';
import { summarize } from './summary.js';
import { checkTargets } from './targets.js';

/** One measured cell of one round, with only what the summary reads filled in. */
function run(round: number, variant: VariantName, scenario: ScenarioName, throughput: number): RunRecord {
  return {
    round,
    variant,
    scenario,
    load: {
      throughput,
      responses: throughput * 10,
      latency: { p50: 1, p90: 2, p99: 3, max: 4 },
      statusCodes: { 201: throughput * 10 },
      errors: 0,
      timeouts: 0,
    },
    server: {
      requests: throughput * 10,
      executions: throughput * 10,
      keysExecutedMoreThanOnce: 0,
      keysExecuted: throughput * 10,
      storeCalls: null,
      driverRoundTrips: null,
      eventLoopDelay: { p50: 1, p99: 2, max: 3 },
    },
    serverCpuMsPerRequest: 0.2,
    verdict: { status: variant === 'bare' ? 'baseline' : 'ok', problems: [] },
    attempts: 1,
  };
}

/** Rounds of first executions: per round, req/s of bare, idemkit-memory and each peer. */
function firstExecutionRounds(
  rounds: Array<{ bare: number; ours: number; node: number; express: number }>,
): RunRecord[] {
  return rounds.flatMap((r, i) => [
    run(i + 1, 'bare', 'first', r.bare),
    run(i + 1, 'idemkit-memory', 'first', r.ours),
    run(i + 1, 'node-idempotency', 'first', r.node),
    run(i + 1, 'express-idempotency', 'first', r.express),
  ]);
}

const firstThroughputTarget = (runs: RunRecord[]) =>
  checkTargets(summarize(runs)).find((target) =>
    target.target.startsWith('ahead of both peers: first-execution throughput ('),
  )!;

describe('bench summary and targets', () => {
  it('takes the median of an even count as the mean of the middle two; percentiles by nearest rank', () => {
    assert.equal(median([0.951, 0.804]), 0.8775);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([3, 1, 2]), 2);
    assert.ok(Number.isNaN(median([])));
    assert.equal(percentile([1, 2, 3, 4], 50), 2);
    assert.equal(percentile([1, 2, 3, 4], 99), 4);
  });

  it('takes "× bare" as the median of each round\'s own ratio, not the ratio of medians', () => {
    const runs = [1000, 2000, 3000].flatMap((bare, i) => [
      run(i + 1, 'bare', 'first', bare),
      run(i + 1, 'idemkit-memory', 'first', [900, 1000, 2700][i]!),
    ]);
    const cell = summarize(runs).find((c) => c.variant === 'idemkit-memory')!;
    assert.equal(cell.throughput, 1000);
    assert.equal(cell.ratio, 0.9); // the ratio of medians would be 0.5
    assert.deepEqual(cell.ratioRange, [0.5, 0.9]);
  });

  it('counts a peer as beaten only when req/s medians and ratios to bare agree', () => {
    // By the medians of req/s idemkit leads (1,500 against 1,400); by the medians of each
    // round's ratio to bare the peer does (0.80 against 0.75): a tie, not a win.
    const drifting = firstThroughputTarget(
      firstExecutionRounds([
        { bare: 1000, ours: 700, node: 800, express: 100 },
        { bare: 2000, ours: 1500, node: 1400, express: 100 },
        { bare: 2000, ours: 1500, node: 1600, express: 100 },
      ]),
    );
    assert.equal(drifting.met, false, drifting.measured);

    const ahead = firstThroughputTarget(
      firstExecutionRounds([
        { bare: 1000, ours: 900, node: 800, express: 100 },
        { bare: 1000, ours: 910, node: 800, express: 100 },
        { bare: 2000, ours: 1900, node: 1500, express: 100 },
      ]),
    );
    assert.equal(ahead.met, true, ahead.measured);
    assert.match(ahead.measured, /^910 req\/s \(0\.91 × bare\) vs /);
  });

  it('leaves a target unjudged when a peer was not measured', () => {
    const runs = firstExecutionRounds([{ bare: 1000, ours: 900, node: 800, express: 100 }]).filter(
      (r) => r.variant !== 'express-idempotency',
    );
    assert.equal(firstThroughputTarget(runs).met, null);
  });
});
