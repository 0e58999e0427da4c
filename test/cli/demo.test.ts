import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { sqliteStore } from '../../src/stores/sqlite/index.js';
import { type RawResponse, sendOk } from '../../src/testing/index.js';
import { isOneLine, repoRoot, runCli, startCli, waitFor } from './cli-process.js';

const temp = mkdtempSync(join(tmpdir(), 'idemkit-demo-'));
after(() => rmSync(temp, { recursive: true, force: true }));

const merchant = 'Bearer sk_test_merchant';
const form = 'application/x-www-form-urlencoded';

function charge(
  url: string,
  key: string,
  body: string,
  { type = form, auth = merchant }: { type?: string; auth?: string } = {},
): Promise<RawResponse> {
  return sendOk(url, {
    path: '/v1/charges',
    headers: [
      ['authorization', auth],
      ['content-type', type],
      ['idempotency-key', key],
    ],
    body,
  });
}

async function listCharges(url: string): Promise<Array<{ id: string; amount: number }>> {
  const response = await sendOk(url, { method: 'GET', path: '/v1/charges?limit=100' });
  assert.equal(response.status, 200);
  return response.json().data;
}

describe('idemkit demo (what npm start runs)', () => {
  const file = join(temp, 'demo.db');
  const store = `sqlite:${file}`;
  const firstKey = randomUUID();
  let firstCharge: Buffer | undefined;

  it('is what npm start runs', () => {
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
    assert.equal(manifest.scripts.start, 'npm run build --silent && node dist/cli/index.js demo');
    assert.equal(manifest.bin.idemkit, './dist/cli/index.js');
  });

  it('creates one charge per key, replays the retry, and keeps both across a restart', async () => {
    let demo = await startCli(['demo', '--port', '0', '--store', store]);
    try {
      const curl = /curl -i http:\/\/127\.0\.0\.1:\d+\/v1\/charges .*Idempotency-Key: /;
      await waitFor(() => curl.test(demo.stderr()), 'the curl example');
      const first = await charge(demo.url, firstKey, 'amount=2000&currency=usd&source=tok_visa');
      assert.equal(first.status, 201, first.body.toString());
      const created = first.json();
      assert.match(created.id, /^ch_/);
      assert.deepEqual(
        {
          object: created.object,
          amount: created.amount,
          currency: created.currency,
          source: created.source,
        },
        { object: 'charge', amount: 2000, currency: 'usd', source: 'tok_visa' },
      );
      assert.equal(typeof created.created, 'number');
      assert.equal(first.header('idempotent-replayed'), undefined);

      const retry = await charge(demo.url, firstKey, 'amount=2000&currency=usd&source=tok_visa');
      assert.equal(retry.status, 201);
      assert.equal(retry.header('idempotent-replayed'), 'true');
      assert.equal(Buffer.compare(retry.body, first.body), 0);
      firstCharge = first.body;
      assert.equal((await listCharges(demo.url)).length, 1, 'two POSTs with one key make one charge');

      const fetched = await sendOk(demo.url, { method: 'GET', path: `/v1/charges/${created.id}` });
      assert.equal(fetched.json().id, created.id);
    } finally {
      assert.equal((await demo.stop()).code, 0);
    }

    demo = await startCli(['demo', '--port', '0', '--store', store]);
    try {
      const afterRestart = await charge(demo.url, firstKey, 'amount=2000&currency=usd&source=tok_visa');
      assert.equal(afterRestart.header('idempotent-replayed'), 'true', 'the record survives the restart');
      assert.equal(Buffer.compare(afterRestart.body, firstCharge), 0);
      const charges = await listCharges(demo.url);
      assert.equal(charges.length, 1, 'the charge survives the restart, and the replay made no other');
    } finally {
      assert.equal((await demo.stop()).code, 0);
    }
  });

  it('takes JSON and form bodies, does not store a 400, and scopes keys by credential', async () => {
    const demo = await startCli(['demo', '--port', '0', '--store', store]);
    try {
      const before = (await listCharges(demo.url)).length;
      const json = await charge(
        demo.url,
        randomUUID(),
        '{"amount":500,"currency":"EUR","source":"tok_sepa"}',
        {
          type: 'application/json',
        },
      );
      assert.equal(json.status, 201);
      assert.equal(json.json().currency, 'eur');

      const key = randomUUID();
      const invalid = await charge(demo.url, key, 'amount=0&currency=usd&source=tok_visa');
      assert.equal(invalid.status, 400);
      assert.equal(invalid.header('content-type'), 'application/problem+json');
      assert.equal(invalid.json().param, 'amount');
      const again = await charge(demo.url, key, 'amount=0&currency=usd&source=tok_visa');
      assert.equal(again.status, 400);
      assert.equal(again.header('idempotent-replayed'), undefined, 'a 400 must not be stored');
      const corrected = await charge(demo.url, key, 'amount=100&currency=usd&source=tok_visa');
      assert.equal(corrected.status, 201, 'the same key with a corrected body runs');
      assert.equal(corrected.header('idempotent-replayed'), undefined);

      for (const [body, param] of [
        ['amount=100&currency=dollars&source=tok_visa', 'currency'],
        ['amount=100&currency=usd', 'source'],
        ['amount=100&currency=usd&source=tok_visa&color=red', 'color'],
      ] as const) {
        const response = await charge(demo.url, randomUUID(), body);
        assert.equal(response.status, 400, body);
        assert.equal(response.json().param, param);
      }
      assert.equal((await charge(demo.url, randomUUID(), 'x', { type: 'text/plain' })).status, 415);

      // The same key from another merchant is another operation.
      const other = await charge(demo.url, firstKey, 'amount=2000&currency=usd&source=tok_visa', {
        auth: 'Bearer sk_test_other',
      });
      assert.equal(other.status, 201);
      assert.equal(other.header('idempotent-replayed'), undefined);
      const reused = await charge(demo.url, firstKey, 'amount=9&currency=usd&source=tok_visa');
      assert.equal(reused.status, 422, 'the first merchant reusing its key with another body');
      assert.equal((await listCharges(demo.url)).length, before + 3);
    } finally {
      await demo.stop();
    }
  });

  it('inspect shows the stored record; purge deletes expired ones', async () => {
    const shown = await runCli(['inspect', firstKey, '--store', store, '--credential', merchant]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /state +completed/);
    assert.match(shown.stdout, /status +201/);
    assert.match(shown.stdout, /created +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/);
    assert.match(shown.stdout, /"object": "charge"/, 'a JSON body is shown as text');

    const asJson = await runCli(['inspect', firstKey, '--store', store, '--credential', merchant, '--json']);
    const record = JSON.parse(asJson.stdout);
    assert.equal(record.response.status, 201);
    assert.equal(record.response.body.encoding, 'utf-8');
    assert.deepEqual(JSON.parse(record.response.body.text), JSON.parse(firstCharge!.toString()));

    const unscoped = await runCli(['inspect', firstKey, '--store', store]);
    assert.equal(unscoped.code, 1, 'without the credential it is another (absent) record');
    assert.ok(isOneLine(unscoped.stderr));
    assert.match(unscoped.stderr, /no record for key/);

    // Two records whose time is up, written the way the engine would have.
    const database = new Database(file);
    const records = sqliteStore({ database });
    const past = Date.now() - 60_000;
    for (const key of ['expired-1', 'expired-2']) {
      await records.acquire(
        {
          key,
          fingerprint: 'f',
          token: 't',
          createdAt: past,
          leaseUntil: past + 1_000,
          expiresAt: past + 2_000,
        },
        past,
      );
    }
    database.close();
    const purged = await runCli(['purge', '--store', store]);
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, /^purged 2 expired records in [\d.]+ s$/m);
    const nothingLeft = await runCli(['purge', '--store', store]);
    assert.match(nothingLeft.stdout, /^purged 0 expired records/m);
    const stillThere = await runCli(['inspect', firstKey, '--store', store, '--credential', merchant]);
    assert.equal(stillThere.code, 0, 'purge leaves live records alone');
  });

  it('defaults to an SQLite file in the working directory', async () => {
    const cwd = mkdtempSync(join(temp, 'cwd-'));
    const demo = await startCli(['demo', '--port', '0'], { cwd });
    try {
      assert.equal(
        (await charge(demo.url, randomUUID(), 'amount=1&currency=usd&source=tok_visa')).status,
        201,
      );
    } finally {
      await demo.stop();
    }
    assert.ok(existsSync(join(cwd, 'idemkit-demo.db')));
  });
});
