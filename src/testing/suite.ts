/** The two functions every test runner has (node:test, vitest, jest, mocha), as the suites need them. */
export interface SuiteFunctions {
  describe: (name: string, body: () => void) => unknown;
  it: TestFunction;
}

export interface TestFunction {
  (name: string, body: () => void | Promise<void>): unknown;
  /** Used for cases a caller opted out of, so the runner reports them as skipped with the reason. */
  skip?: (name: string, body: () => void | Promise<void>) => unknown;
}

/** Register one case, or report it skipped with the caller's reason. */
export function defineCase(
  it: TestFunction,
  name: string,
  skipReason: string | undefined,
  body: () => void | Promise<void>,
): void {
  if (skipReason === undefined) {
    it(name, body);
  } else if (it.skip) {
    it.skip(`${name} (${skipReason})`, body);
  } else {
    // A runner without it.skip: report the opt-out as a case that states why it did not run.
    it(`${name} (skipped: ${skipReason})`, () => undefined);
  }
}
