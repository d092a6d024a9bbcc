/**
 * Per-connection metadata: each connection id has one server-side and one client-side map that
 * lives from its first successful Request until its Close. Elements keep their state under typed
 * keys so they never see each other's:
 *
 *   const NAME = metaKey<string>("ifname/name");
 *   ctx.meta.get(NAME); ctx.meta.set(NAME, "nsm-1a2b");
 */
export interface MetaKey<T> {
  readonly name: string;
  readonly __type?: T;
}
export function metaKey<T>(name: string): MetaKey<T> {
  return Object.freeze({ name }) as MetaKey<T>;
}

export interface MetaMap {
  get<T>(k: MetaKey<T>): T | undefined;
  set<T>(k: MetaKey<T>, v: T): void;
  delete(k: MetaKey<unknown>): boolean;
  has(k: MetaKey<unknown>): boolean;
  /** get, or set the value `init()` makes and return it */
  getOrSet<T>(k: MetaKey<T>, init: () => T): T;
  readonly size: number;
}

export class Meta implements MetaMap {
  private readonly m = new Map<MetaKey<unknown>, unknown>();
  get<T>(k: MetaKey<T>): T | undefined {
    return this.m.get(k) as T | undefined;
  }
  set<T>(k: MetaKey<T>, v: T): void {
    this.m.set(k, v);
  }
  delete(k: MetaKey<unknown>): boolean {
    return this.m.delete(k);
  }
  has(k: MetaKey<unknown>): boolean {
    return this.m.has(k);
  }
  getOrSet<T>(k: MetaKey<T>, init: () => T): T {
    if (this.m.has(k)) return this.m.get(k) as T;
    const v = init();
    this.m.set(k, v);
    return v;
  }
  get size(): number {
    return this.m.size;
  }
}

/** Stands in when no metadata element is in the chain: using it is a programming error. */
export function missingMeta(side: "server" | "client"): MetaMap {
  const fail = (): never => {
    throw new Error(
      `no ${side}-side metadata in this chain: put metadata${side === "server" ? "Server" : "Client"}() or begin${side === "server" ? "Server" : "Client"}() before this element`,
    );
  };
  return {
    get: fail,
    set: fail,
    delete: fail,
    has: fail,
    getOrSet: fail,
    get size(): number {
      return fail();
    },
  };
}

/** The metadata of every live connection of one side of one chain. */
export class MetaStore {
  private readonly byId = new Map<string, Meta>();
  get(id: string): Meta | undefined {
    return this.byId.get(id);
  }
  getOrCreate(id: string): { meta: Meta; created: boolean } {
    const m = this.byId.get(id);
    if (m) return { meta: m, created: false };
    const meta = new Meta();
    this.byId.set(id, meta);
    return { meta, created: true };
  }
  delete(id: string): void {
    this.byId.delete(id);
  }
  get size(): number {
    return this.byId.size;
  }
}
