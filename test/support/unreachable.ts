import { expect } from 'chai';
import { UnreachableError } from '../../lib/transport/transport.js';

/** The UnreachableError `p` rejects with; fails the test when it resolves or rejects otherwise. */
export async function unreachable(p: Promise<unknown>): Promise<UnreachableError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(UnreachableError);
    return err as UnreachableError;
  }
  expect.fail('expected a rejection');
}
