import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { newFencingToken } from './fencing-token.js';

describe('newFencingToken', () => {
  it('never repeats within a process', () => {
    const tokens = new Set(Array.from({ length: 100_000 }, newFencingToken));
    assert.equal(tokens.size, 100_000);
  });

  it('differs between processes that share a store', () => {
    const module = fileURLToPath(new URL('./fencing-token.ts', import.meta.url));
    const script = `import(${JSON.stringify(module)}).then((m) => console.log(m.newFencingToken()))`;
    const fromProcess = () =>
      execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' }).trim();
    const [first, second] = [fromProcess(), fromProcess()];
    // Each process issues its first token: only the per-process prefix tells them apart.
    assert.match(first, /^[\w-]{16}\.1$/);
    assert.notEqual(first, second);
  });
});
