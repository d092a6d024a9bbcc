/**
 * Netns: a handle bound to one network namespace; every datapath operation goes through one, so
 * nothing depends on the calling thread's namespace. It owns one fd (O_CLOEXEC) that keeps the
 * namespace alive while the handle is open.
 *
 * ```ts
 * const ns = Netns.open({ name: "blue" });         // or "/proc/42/ns/net", { pid: 42 }, { fd }
 * try {
 *   await ns.batch().linkAdd({ kind: "bridge", attrs: { name: "br0", up: true } }).commit();
 *   console.log((await ns.linkByName("br0")).attrs.index);
 * } finally { ns.close(); }
 * ```
 * Root only (CAP_SYS_ADMIN to enter, CAP_NET_ADMIN to change).
 */
import { fdClose, fdDup, fdInode, netnsOpen, nlExec } from "../native.js";
import { decodeAddrs, encodeAddrDump, type Addr, type AddrInfo } from "./addr.js";
import { Batch, type BatchResult, type CommitOptions } from "./batch.js";
import { DatapathError } from "./errors.js";
import {
  checkIfname,
  decodeLinkNames,
  decodeLinks,
  encodeLinkDump,
  encodeLinkGet,
  linkIndexOf,
  type Link,
  type LinkChange,
  type LinkSpec,
  type LinkStats,
} from "./link.js";
import { decodeNeighs, encodeNeighDump, type Neigh, type NeighInfo } from "./neigh.js";
import * as nl from "./netlink.js";
import { NETNS_BRAND, resolveRef, type NetnsHandle, type NetnsRef } from "./ref.js";
import { decodeRoutes, encodeRouteDump, type Route, type RouteInfo } from "./route.js";

export class Netns implements NetnsHandle {
  readonly [NETNS_BRAND] = true as const;
  /** For messages: "/run/netns/x", "pid 42", "fd 7". */
  readonly name: string;
  private readonly _fd: number;
  private refs = 0;
  private closing = false;
  private closed = false;

  private constructor(fd: number, name: string) {
    this._fd = fd;
    this.name = name;
  }

  /**
   * Opens a netns by path, name (/run/netns/<name>), pid (/proc/<pid>/ns/net) or fd (duplicated:
   * the caller keeps owning its fd). Throws DatapathError (ENOENT naming the path, ...).
   */
  static open(ref: NetnsRef): Netns {
    const { path, name } = resolveRef(ref);
    try {
      if (typeof ref === "object" && "fd" in ref) return new Netns(fdDup(ref.fd), name);
      return new Netns(netnsOpen(path), name);
    } catch (e) {
      throw DatapathError.wrap(e, `opening netns ${name}`, name);
    }
  }

  /** The namespace this process runs in. */
  static current(): Netns {
    try {
      return new Netns(netnsOpen("/proc/self/ns/net"), `netns of pid ${process.pid}`);
    } catch (e) {
      throw DatapathError.wrap(e, "opening the current netns", "/proc/self/ns/net");
    }
  }

  /** The owned fd; valid until close(). Throws if closed. */
  get fd(): number {
    if (this.closed || this.closing)
      throw new DatapathError(`netns ${this.name} is closed`, {
        code: "EBADF",
        errno: 9,
        syscall: "use",
        netns: this.name,
      });
    return this._fd;
  }

  /** A path other processes can open to reach this namespace while the handle is open. */
  get procPath(): string {
    return `/proc/${process.pid}/fd/${this.fd}`;
  }

  /** "dev:ino" identity of the namespace; equal for two handles on the same netns. */
  inode(): string {
    return fdInode(this.fd);
  }

  acquire(): void {
    void this.fd; // throws when closed
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0 && this.closing) this.finishClose();
  }

  /** Closes the fd (after in-flight operations finish). Idempotent. */
  close(): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    if (this.refs === 0) this.finishClose();
  }
  private finishClose(): void {
    if (this.closed) return;
    this.closed = true;
    fdClose(this._fd);
  }

  /** A new batch of operations in this netns; see {@link Batch}. */
  batch(): Batch {
    return new Batch(this);
  }

  // One-op shorthands: each is a batch of one.
  linkAdd(l: LinkSpec, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().linkAdd(l).commit(o);
  }
  linkDel(name: string, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().linkDel(name).commit(o);
  }
  linkSet(name: string, c: LinkChange, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().linkSet(name, c).commit(o);
  }
  addrAdd(a: Addr, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().addrAdd(a).commit(o);
  }
  addrDel(a: Addr, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().addrDel(a).commit(o);
  }
  routeAdd(r: Route, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().routeAdd(r).commit(o);
  }
  routeReplace(r: Route, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().routeReplace(r).commit(o);
  }
  routeDel(r: Route, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().routeDel(r).commit(o);
  }
  neighAdd(n: Neigh, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().neighAdd(n).commit(o);
  }
  neighReplace(n: Neigh, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().neighReplace(n).commit(o);
  }
  neighDel(n: Neigh, o?: CommitOptions): Promise<BatchResult> {
    return this.batch().neighDel(n).commit(o);
  }

  /** Runs dump/get messages in one native call and returns their replies. */
  private async query(msgs: nl.NlMsg[], what: string): Promise<(Uint8Array | null)[]> {
    const { batch, fixups } = nl.packBatch(msgs);
    this.acquire();
    try {
      const r = await nlExec(this._fd, batch, fixups);
      const e = r.errors.find((x) => x !== null);
      if (e) {
        throw new DatapathError(
          `${e.code} ${what} in ${this.name}: ${e.syscall}${e.path ? ` ${e.path}` : ""}${e.detail ? ` (${e.detail})` : ""}`,
          { code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, detail: e.detail, netns: this.name },
          { cause: e },
        );
      }
      return r.replies;
    } catch (e) {
      throw DatapathError.wrap(e, what, this.name);
    } finally {
      this.release();
    }
  }

  /** All links, with 64-bit stats. */
  async links(): Promise<Link[]> {
    const [r] = await this.query([encodeLinkDump()], "listing links");
    return decodeLinks(r ?? null);
  }

  /** One link by name; DatapathError ENODEV when there is none. */
  async linkByName(name: string): Promise<Link> {
    checkIfname(name);
    const [r] = await this.query([encodeLinkGet(name)], `reading link ${name}`);
    const l = decodeLinks(r ?? null)[0];
    if (!l)
      throw new DatapathError(`ENODEV reading link ${name} in ${this.name}`, {
        code: "ENODEV",
        errno: 19,
        syscall: "RTM_GETLINK",
        netns: this.name,
      });
    return l;
  }

  /** 64-bit counters of link `name` (IFLA_STATS64). */
  async stats(name: string): Promise<LinkStats> {
    const l = await this.linkByName(name);
    if (!l.stats)
      throw new DatapathError(`no IFLA_STATS64 for ${name} in ${this.name}`, {
        code: "ENODATA",
        errno: 61,
        syscall: "RTM_GETLINK",
        netns: this.name,
      });
    return l.stats;
  }

  private async withNames(
    msg: nl.NlMsg,
    what: string,
  ): Promise<{ reply: Uint8Array | null; names: Map<number, string> }> {
    const [links, reply] = await this.query([encodeLinkDump(), msg], what);
    return { reply: reply ?? null, names: decodeLinkNames(links ?? null) };
  }

  /**
   * Addresses, optionally only those of one link or family. With `link`, one native call reads
   * that link and the family's addresses, and only its frames are decoded: the cost does not grow
   * with the other links in the namespace. A link that does not exist has no addresses.
   */
  async addrs(filter: { link?: string; family?: 4 | 6 } = {}): Promise<AddrInfo[]> {
    if (filter.link !== undefined) {
      const link = filter.link;
      checkIfname(link);
      let r: (Uint8Array | null)[];
      try {
        r = await this.query([encodeLinkGet(link), encodeAddrDump(filter.family)], `listing addresses of ${link}`);
      } catch (e) {
        if ((e as DatapathError).code === "ENODEV") return [];
        throw e;
      }
      const index = linkIndexOf(r[0] ?? null);
      if (index === undefined) return [];
      return decodeAddrs(r[1] ?? null, new Map([[index, link]]), index);
    }
    const { reply, names } = await this.withNames(encodeAddrDump(filter.family), "listing addresses");
    return decodeAddrs(reply, names);
  }

  /** Routes of one table (default main, 254) or all tables; optionally one family or device. */
  async routes(filter: { table?: number | "all"; family?: 4 | 6; dev?: string } = {}): Promise<RouteInfo[]> {
    const table = filter.table ?? nl.RT_TABLE_MAIN;
    const { reply, names } = await this.withNames(encodeRouteDump(), "listing routes");
    return decodeRoutes(reply, names).filter(
      (r) =>
        (table === "all" || r.table === table) &&
        (filter.family === undefined || r.family === filter.family) &&
        (filter.dev === undefined || r.dev === filter.dev),
    );
  }

  /** Neighbour entries, optionally of one link. */
  async neighs(filter: { link?: string; family?: 4 | 6 } = {}): Promise<NeighInfo[]> {
    const { reply, names } = await this.withNames(encodeNeighDump(), "listing neighbours");
    return decodeNeighs(reply, names).filter(
      (n) =>
        (filter.link === undefined || n.link === filter.link) &&
        (filter.family === undefined || n.family === filter.family),
    );
  }
}

/** Opens `ref`, runs `f`, and closes the handle whatever happens. */
export async function withNetns<T>(ref: NetnsRef, f: (ns: Netns) => Promise<T>): Promise<T> {
  const ns = Netns.open(ref);
  try {
    return await f(ns);
  } finally {
    ns.close();
  }
}
