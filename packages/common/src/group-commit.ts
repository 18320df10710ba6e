/** How one write of a group commit ended, when it may fail alone (a constraint) while the rest commit. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

type Outcomes<R> = Array<Settled<R>> | void;

/**
 * Group commit: the writes asked for in the same turn of the event loop are committed together,
 * by `commitAll` in one transaction (one sync to disk for many); each promise settles once that
 * commit is done, or fails with it. `commitAll` may tell how each write ended (one that failed
 * alone, in a savepoint of its own); when it tells nothing, each write resolves to undefined.
 *
 * `commitAll` may be asynchronous (a database server): then one commit is in flight at a time,
 * and the writes asked for meanwhile form the next batch, as a server's own group commit does.
 *
 * With `spacingMs`, commits start at least that far apart: a write after a quiet spell is
 * committed in the next turn as before, while under load the writes of the whole interval share
 * one sync, so the syncs, which block the event loop, stay a bounded share of its time.
 */
export function groupCommit<T, R = void>(
  commitAll: (batch: T[]) => Outcomes<R> | Promise<Outcomes<R>>,
  options: { spacingMs?: number } = {},
): (item: T) => Promise<R> {
  const spacingMs = options.spacingMs ?? 0;
  type Entry = { item: T; resolve: (value: R) => void; reject: (error: unknown) => void };
  let queued: Entry[] = [];
  let lastFlush = -Infinity;
  let scheduled = false;
  let committing = false;

  const settle = (batch: Entry[], settled: Outcomes<R>) => {
    batch.forEach((entry, index) => {
      const outcome = settled?.[index];
      if (outcome && !outcome.ok) entry.reject(outcome.error);
      else entry.resolve(outcome?.value as R);
    });
  };
  const fail = (batch: Entry[], error: unknown) => {
    for (const entry of batch) entry.reject(error);
  };
  const flush = () => {
    scheduled = false;
    lastFlush = performance.now();
    const batch = queued;
    queued = [];
    let result: Outcomes<R> | Promise<Outcomes<R>>;
    try {
      result = commitAll(batch.map((entry) => entry.item));
    } catch (error) {
      fail(batch, error);
      return;
    }
    if (!(result instanceof Promise)) {
      settle(batch, result);
      return;
    }
    committing = true;
    result
      .then(
        (settled) => settle(batch, settled),
        (error: unknown) => fail(batch, error),
      )
      .finally(() => {
        committing = false;
        if (queued.length > 0) schedule();
      });
  };
  const schedule = () => {
    if (scheduled || committing) return;
    scheduled = true;
    const wait = lastFlush + spacingMs - performance.now();
    if (wait > 0) setTimeout(flush, wait);
    else setImmediate(flush);
  };
  return (item) =>
    new Promise((resolve, reject) => {
      queued.push({ item, resolve, reject });
      schedule();
    });
}
