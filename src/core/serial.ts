/**
 * FIFO executors keyed by a string: work for one key runs one at a time, in the order it was
 * queued; different keys run concurrently. Idle keys are forgotten.
 */
export class SerialExecutor {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  /** Queues `fn`; resolves/rejects with its result once every earlier job has settled. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const p = this.tail.then(fn, fn);
    this.tail = p.then(
      () => this.pending--,
      () => this.pending--,
    );
    return p;
  }
  get idle(): boolean {
    return this.pending === 0;
  }
}

export class KeyedSerial {
  private readonly byKey = new Map<string, SerialExecutor>();
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let ex = this.byKey.get(key);
    if (!ex) {
      ex = new SerialExecutor();
      this.byKey.set(key, ex);
    }
    const e = ex;
    return e.run(fn).finally(() => {
      if (e.idle && this.byKey.get(key) === e) this.byKey.delete(key);
    });
  }
  get size(): number {
    return this.byKey.size;
  }
}
