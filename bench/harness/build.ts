import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Compile the server under test (bench/server and the parts of src/ it imports) with tsc, the
 * way `npm run build` compiles the published package, and return the entry to run with plain
 * `node`. Running the server through tsx instead would measure esbuild's output, whose
 * `keepNames` helper renames every closure as it is created: a cost the shipped package never pays.
 *
 * The output goes outside the repository (no linter or test runner sees it), with a symlink to
 * node_modules so that express, pg and the peers resolve as they do from the repo. `sourceRoot`
 * may be another checkout of the repository (an A/B comparison's baseline, see ab.ts).
 */
export function buildServer(sourceRoot: string = root, label = ''): string {
  const outDir = join(tmpdir(), `idemkit-bench-build-${process.pid}${label}`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(outDir, 'node_modules'), 'dir');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(
    process.execPath,
    [tsc, '-p', join(sourceRoot, 'bench', 'tsconfig.server.json'), '--outDir', outDir],
    {
      encoding: 'utf8',
    },
  );
  const entry = join(outDir, 'bench', 'server', 'main.js');
  if (!existsSync(entry)) {
    throw new Error(`tsc did not produce ${entry}:\n${result.stdout}${result.stderr}`);
  }
  // Type errors elsewhere in a tree others are editing do not stop the emit; say so and go on.
  if (result.status !== 0)
    console.warn(`tsc reported type errors (output emitted anyway):\n${result.stdout}`);
  return entry;
}

export function removeBuild(entry: string): void {
  rmSync(join(entry, '..', '..', '..'), { recursive: true, force: true });
}

/**
 * Build the server of another commit (`ref`): its tree checked out into a temporary git
 * worktree beside this one, sharing this checkout's node_modules. `remove()` deletes the build
 * and the worktree.
 */
export function buildRef(ref: string, label: string): { entry: string; remove(): void } {
  const worktree = mkdtempSync(join(tmpdir(), 'idemkit-ref-'));
  const removeWorktree = (): void => {
    spawnSync('git', ['-C', root, 'worktree', 'remove', '--force', worktree], { stdio: 'ignore' });
    rmSync(worktree, { recursive: true, force: true });
  };
  try {
    const added = spawnSync('git', ['-C', root, 'worktree', 'add', '--detach', worktree, ref], {
      encoding: 'utf8',
    });
    if (added.status !== 0) throw new Error(`git worktree add ${ref} failed: ${added.stderr}`);
    symlinkSync(join(root, 'node_modules'), join(worktree, 'node_modules'), 'dir');
    const entry = buildServer(worktree, label);
    return {
      entry,
      remove: () => {
        removeBuild(entry);
        removeWorktree();
      },
    };
  } catch (error) {
    removeWorktree();
    throw error;
  }
}
