/**
 * A VPP binary-API client over VPP's socket transport (`socksvr { socket-name … }`): each frame
 * is a 16-byte header (8 bytes VPP ignores, u32 big-endian length, 4 more) and one message whose
 * first two bytes are its id. `sockclnt_create` (fixed id 15) returns the message table
 * (`name_crc` → id); every id we send is looked up there, so a message whose layout (CRC) this
 * VPP does not have is refused locally with its name, never sent.
 *
 *   const vpp = await VppClient.connect("/run/vpp/api.sock", { require: ["tap_create_v3"] });
 *   const { sw_if_index } = await vpp.request("tap_create_v3", { host_if_name_set: true, host_if_name: "nsm-1" });
 *   const ifs = await vpp.dump("sw_interface_dump", { sw_if_index: ~0 >>> 0 });
 *   const off = vpp.on("sw_interface_event", (e) => …);
 *   await vpp.close();
 *
 * Replies are matched by context; a dump is closed by a `control_ping` with the same context.
 * With `reconnect`, a lost connection is re-established (fresh message table, `want_*`
 * subscriptions made with `subscribe` sent again) and `onReconnect` listeners run.
 */
import { connect as netConnect, type Socket } from "node:net";
import { NsmError, status } from "../tools/errors.js";
import { silentLogger, type Logger } from "../tools/log.js";
import { decode, encode, nameCrc } from "./codec.js";
import { VppApiError } from "./errors.js";
import { MESSAGES, REPLY_OF, type Dumps, type Events, type Requests } from "./gen/messages.js";

const SOCKCLNT_CREATE_ID = 15;
const SOCKCLNT_CREATE_REPLY_ID = 16;
const HDR = 16;

export interface VppClientOptions {
  /** client name VPP shows (`show api clients`) */
  name?: string;
  /** messages that must be in VPP's table, or connect fails naming them (default: the transport's own) */
  require?: readonly string[];
  /** per-call timeout (default 5 s) */
  timeoutMs?: number;
  /** re-establish a lost connection (default false) */
  reconnect?: boolean;
  log?: Logger;
}

interface Pending {
  name: string;
  reply: string;
  details?: unknown[];
  detailsName?: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

type EventHandler = (e: unknown) => void;

/** Frames a message for the socket transport. */
export function frame(msg: Buffer): Buffer {
  const h = Buffer.alloc(HDR);
  h.writeUInt32BE(msg.length, 8);
  return Buffer.concat([h, msg]);
}

function socketError(path: string, err: NodeJS.ErrnoException): NsmError {
  const why =
    err.code === "ENOENT"
      ? "no such socket (is VPP running with socksvr { socket-name … }?)"
      : err.code === "ECONNREFUSED"
        ? "connection refused (VPP is not listening there)"
        : err.message;
  return new NsmError(status.UNAVAILABLE, `VPP API socket ${path}: ${why}`, { cause: err });
}

export class VppClient {
  private sock!: Socket;
  private rx: Buffer = Buffer.alloc(0);
  private ids = new Map<string, number>(); // name_crc -> id
  private names = new Map<number, string>(); // id -> our message name
  private clientIndex = 0;
  private nextContext = 1;
  private pending = new Map<number, Pending>();
  private handlers = new Map<string, Set<EventHandler>>();
  private subscriptions = new Map<string, { name: string; req: Record<string, unknown> }>();
  private reconnectListeners = new Set<() => void>();
  private closed = false;
  private connecting: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly timeoutMs: number;

  private constructor(
    readonly socketPath: string,
    private readonly o: VppClientOptions,
  ) {
    this.log = (o.log ?? silentLogger).child({ vppApi: socketPath });
    this.timeoutMs = o.timeoutMs ?? 5000;
  }

  /** Connects and reads the message table; rejects naming the socket (UNAVAILABLE) or a missing message (FAILED_PRECONDITION). */
  static async connect(socketPath: string, o: VppClientOptions = {}): Promise<VppClient> {
    const c = new VppClient(socketPath, o);
    await c.open();
    return c;
  }

  /** VPP's message-table size, the client index VPP gave us. */
  get info(): { messages: number; clientIndex: number } {
    return { messages: this.ids.size, clientIndex: this.clientIndex };
  }

  /** True when VPP's table has this message with the layout we were generated for. */
  has(name: string): boolean {
    return this.ids.has(nameCrc(name));
  }

  private async open(): Promise<void> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect(this.socketPath);
      s.once("connect", () => {
        s.removeAllListeners("error");
        resolve(s);
      });
      s.once("error", (e) => reject(socketError(this.socketPath, e)));
    });
    this.sock = sock;
    this.rx = Buffer.alloc(0);
    const table = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new NsmError(status.UNAVAILABLE, `VPP API socket ${this.socketPath}: no sockclnt_create reply`)),
        this.timeoutMs,
      );
      const onData = (d: Buffer) => {
        this.rx = Buffer.concat([this.rx, d]);
        const m = this.takeFrame();
        if (!m) return;
        clearTimeout(timer);
        sock.off("data", onData);
        if (m.readUInt16BE(0) !== SOCKCLNT_CREATE_REPLY_ID) {
          reject(new NsmError(status.UNAVAILABLE, `VPP API socket ${this.socketPath}: unexpected first message`));
        } else resolve(m);
      };
      sock.on("data", onData);
      sock.once("error", (e) => {
        clearTimeout(timer);
        reject(socketError(this.socketPath, e));
      });
      sock.write(
        frame(
          encode("sockclnt_create", { _vl_msg_id: SOCKCLNT_CREATE_ID, context: 123, name: this.o.name ?? "nsm-ts" }),
        ),
      );
    });
    const r = decode<{ response: number; index: number; message_table: { index: number; name: string }[] }>(
      "sockclnt_create_reply",
      table,
    );
    if (r.response !== 0) {
      sock.destroy();
      throw new NsmError(
        status.UNAVAILABLE,
        `VPP API socket ${this.socketPath}: sockclnt_create refused (${r.response})`,
      );
    }
    this.clientIndex = r.index;
    this.ids.clear();
    this.names.clear();
    for (const e of r.message_table) this.ids.set(e.name, e.index);
    for (const name of Object.keys(MESSAGES)) {
      const id = this.ids.get(nameCrc(name));
      if (id !== undefined) this.names.set(id, name);
    }
    const need = ["control_ping", "control_ping_reply", "sockclnt_delete", ...(this.o.require ?? [])];
    const missing = need.filter((n) => !this.has(n) || (REPLY_OF[n] && !this.has(REPLY_OF[n]!)));
    if (missing.length) {
      sock.destroy();
      throw new NsmError(
        status.FAILED_PRECONDITION,
        `VPP at ${this.socketPath} lacks ${missing.map(nameCrc).join(", ")} (another VPP version or a plugin not loaded)`,
      );
    }
    this.rx = Buffer.alloc(0);
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("error", (e) => this.log.debug({ err: e.message }, "vpp api socket error"));
    sock.on("close", () => this.onClose(sock));
    this.log.debug({ messages: this.ids.size, clientIndex: this.clientIndex }, "vpp api connected");
  }

  private takeFrame(): Buffer | undefined {
    if (this.rx.length < HDR) return undefined;
    const len = this.rx.readUInt32BE(8);
    if (this.rx.length < HDR + len) return undefined;
    const m = this.rx.subarray(HDR, HDR + len);
    this.rx = this.rx.subarray(HDR + len);
    return m;
  }

  private onData(d: Buffer): void {
    this.rx = this.rx.length ? Buffer.concat([this.rx, d]) : d;
    for (let m = this.takeFrame(); m; m = this.takeFrame()) {
      try {
        this.dispatch(m);
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, "vpp api: undecodable message dropped");
      }
    }
  }

  private dispatch(m: Buffer): void {
    if (m.length < 2) return;
    const name = this.names.get(m.readUInt16BE(0));
    if (!name) return; // a message we have no schema for
    const schema = MESSAGES[name]!;
    if (name === "memclnt_keepalive") {
      const k = decode<{ context: number }>(name, m);
      this.send("memclnt_keepalive_reply", { context: k.context, retval: 0 });
      return;
    }
    if (schema.fields[1]?.[0] !== "context") {
      for (const h of this.handlers.get(name) ?? []) h(decode(name, m));
      return;
    }
    if (m.length < 6) return;
    const p = this.pending.get(m.readUInt32BE(2));
    if (!p) return;
    const v = decode<Record<string, unknown>>(name, m);
    if (p.detailsName === name) {
      p.details!.push(v);
      return;
    }
    if (name !== p.reply) return;
    this.pending.delete(v.context as number);
    clearTimeout(p.timer);
    const retval = v.retval as number | undefined;
    if (retval !== undefined && retval < 0) p.reject(new VppApiError(p.name, retval));
    else p.resolve(p.details ?? v);
  }

  private onClose(sock: Socket): void {
    if (sock !== this.sock) return;
    const err = new NsmError(status.UNAVAILABLE, `VPP API socket ${this.socketPath}: connection lost`);
    for (const [ctx, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(ctx);
    }
    if (this.closed || !this.o.reconnect) return;
    this.log.warn("vpp api connection lost; reconnecting");
    this.connecting = this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    for (let delay = 100; !this.closed; delay = Math.min(delay * 2, 2000)) {
      await new Promise((r) => setTimeout(r, delay));
      if (this.closed) return;
      try {
        await this.open();
        this.connecting = undefined;
        for (const s of this.subscriptions.values()) await this.subscribe(s.name as keyof Requests, s.req);
        this.log.info("vpp api reconnected");
        for (const l of this.reconnectListeners) l();
        return;
      } catch (e) {
        this.log.debug({ err: (e as Error).message }, "vpp api reconnect failed");
      }
    }
  }

  private send(name: string, v: Record<string, unknown>): void {
    const id = this.ids.get(nameCrc(name));
    if (id === undefined)
      throw new NsmError(status.FAILED_PRECONDITION, `VPP at ${this.socketPath} lacks ${nameCrc(name)}: not sent`);
    this.sock.write(frame(encode(name, { ...v, _vl_msg_id: id, client_index: this.clientIndex })));
  }

  private call(name: string, req: object, reply: string, detailsName?: string): Promise<unknown> {
    if (this.closed)
      return Promise.reject(new NsmError(status.UNAVAILABLE, `VPP client for ${this.socketPath} is closed`));
    if (this.connecting)
      return Promise.reject(
        new NsmError(status.UNAVAILABLE, `VPP API socket ${this.socketPath}: connection lost, reconnecting`),
      );
    return new Promise<unknown>((resolve, reject) => {
      const context = this.nextContext;
      this.nextContext = this.nextContext >= 0xfffffffe ? 1 : this.nextContext + 1;
      const timer = setTimeout(() => {
        this.pending.delete(context);
        reject(new NsmError(status.DEADLINE_EXCEEDED, `VPP ${name}: no reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(context, {
        name,
        reply,
        detailsName,
        details: detailsName ? [] : undefined,
        resolve,
        reject,
        timer,
      });
      try {
        this.send(name, { ...req, context });
        if (detailsName) this.send("control_ping", { context });
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(context);
        reject(e as Error);
      }
    });
  }

  /** Sends a request and resolves with its reply; a negative retval rejects with VppApiError. */
  request<K extends keyof Requests>(name: K, req: Requests[K]["req"]): Promise<Requests[K]["reply"]> {
    return this.call(name, req, REPLY_OF[name]!) as Promise<Requests[K]["reply"]>;
  }

  /** Sends a dump (closed by control_ping) and resolves with every details message. */
  dump<K extends keyof Dumps>(name: K, req: Dumps[K]["req"]): Promise<Dumps[K]["details"][]> {
    return this.call(name, req, "control_ping_reply", REPLY_OF[name]) as Promise<Dumps[K]["details"][]>;
  }

  /** Calls `fn` for every event of this kind; returns the unsubscribe function. */
  on<K extends keyof Events>(name: K, fn: (e: Events[K]) => void): () => void {
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(fn as EventHandler);
    return () => set.delete(fn as EventHandler);
  }

  /** Sends a `want_*` request now and again after every reconnect (until `unsubscribe`). */
  async subscribe<K extends keyof Requests>(name: K, req: Requests[K]["req"]): Promise<void> {
    this.subscriptions.set(name, { name, req: req as Record<string, unknown> });
    try {
      await this.request(name, req);
    } catch (e) {
      // INVALID_REGISTRATION: this client is already registered, which is what we want
      if (!(e instanceof VppApiError && e.retval === -31)) throw e;
    }
  }

  /** Runs `fn` after each successful reconnect (the caller re-applies its state). */
  onReconnect(fn: () => void): () => void {
    this.reconnectListeners.add(fn);
    return () => this.reconnectListeners.delete(fn);
  }

  /** Says goodbye (`sockclnt_delete`) and closes the socket; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.sock.destroyed && !this.connecting) {
      await Promise.race([
        this.request("sockclnt_delete", { index: this.clientIndex }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 500)),
      ]);
    }
    this.closed = true;
    this.sock.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new NsmError(status.UNAVAILABLE, `VPP client for ${this.socketPath} closed`));
    }
    this.pending.clear();
  }
}
