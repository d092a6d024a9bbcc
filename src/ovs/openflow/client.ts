/**
 * An OpenFlow 1.3 controller-side session to one switch (ovs-vswitchd's per-bridge
 * `<rundir>/<bridge>.mgmt` socket, or a passive `ptcp:`/`punix:` Controller target). It
 * negotiates 1.3 through HELLO version bitmaps, answers the switch's echo probes, and sends
 * FLOW_MODs in batches closed by a BARRIER: a batch resolves when the barrier reply arrives and
 * rejects with the switch's ERROR (names decoded) naming the failing flow-mod. A frame the
 * decoders refuse (the switch is not trusted) drops the session.
 *
 *   const of = await OpenFlowClient.connect(`unix:${rundir}/br-nsm.mgmt`);
 *   await of.flowMods([
 *     { command: "add", priority: 100, match: { inPort: 1 }, actions: [{ type: "output", port: 2 }] },
 *     { command: "add", priority: 100, match: { inPort: 2 }, actions: [{ type: "output", port: 1 }] },
 *   ]);
 *   await of.flowMods([{ command: "delete", match: { inPort: 1 } }]); of.close();
 * With `reconnect: true` a lost session (vswitchd restarted: its flows are gone) is re-dialled
 * with backoff and `on("connected", features => …)` fires again, so the owner can reinstall.
 */
import type { Socket } from "node:net";
import { status } from "../../tools/errors.js";
import { OvsSession, type OvsSessionOptions } from "../session.js";
import { formatOvsTarget, parseOvsTarget, type OvsTarget } from "../target.js";
import {
  MsgType,
  OFP_HEADER_LEN,
  OFP_VERSION,
  decodeError,
  decodeFeatures,
  decodeFlowStats,
  decodeHeader,
  decodeMultipartReply,
  decodePortDesc,
  decodePortStats,
  encodeFlowMod,
  encodeFlowStatsRequest,
  encodeHeader,
  encodeHello,
  encodeMultipartRequest,
  encodePortStatsRequest,
  helloVersions,
  MultipartType,
  OFPP,
  type Features,
  type FlowMod,
  type FlowStats,
  type FlowStatsRequest,
  type PortDesc,
  type PortStats,
} from "./codec.js";
import { describeFlowMod, OpenFlowError } from "./errors.js";
import { errorNames, msgName } from "./names.js";

/** `timeoutMs` is also the handshake deadline; the keepalive probe is an ECHO_REQUEST. */
export interface OpenFlowClientOptions extends OvsSessionOptions {
  /** re-dial after a lost session and emit `connected` again (default false) */
  reconnect?: boolean;
}

interface Waiter {
  /** returns true when the waiter is done */
  onMsg(type: number, msg: Buffer): boolean;
  fail(e: Error): void;
  timer?: NodeJS.Timeout;
  what: string;
}

/**
 * Events (`on`): `connected` (features; after each reconnect), `disconnected` (err), `error`
 * (unsolicited OpenFlowError), `message` (type, raw msg). Session handling: src/ovs/session.ts.
 */
export class OpenFlowClient extends OvsSession<"error" | "message"> {
  /** the switch's FEATURES_REPLY of the current session */
  features!: Features;
  private rx: Buffer = Buffer.alloc(0);
  private xid = 1;
  private readonly waiters = new Map<number, Waiter>();

  private constructor(target: OvsTarget, o: OpenFlowClientOptions) {
    super("openflow", target, o, { reconnect: false });
  }

  /** Connects, negotiates OpenFlow 1.3 and reads the switch's features. */
  static async connect(target: string | OvsTarget, o: OpenFlowClientOptions = {}): Promise<OpenFlowClient> {
    return new OpenFlowClient(typeof target === "string" ? parseOvsTarget(target) : target, o).start();
  }

  private nextXid(): number {
    const x = this.xid;
    this.xid = this.xid >= 0xfffffff0 ? 1 : this.xid + 1;
    return x;
  }

  protected async open(): Promise<void> {
    this.rx = Buffer.alloc(0);
    const sock = await this.attach((b, s) => this.onData(s, b));
    try {
      this.features = await this.handshake();
    } catch (e) {
      sock.destroy();
      throw e;
    }
    this.startKeepalive();
    this.log.debug({ datapathId: this.features.datapathId }, "openflow session up");
    this.emit("connected", this.features);
  }

  private handshake(): Promise<Features> {
    const where = formatOvsTarget(this.target);
    return new Promise<Features>((resolve, reject) => {
      const helloXid = this.nextXid();
      const timer = setTimeout(() => {
        this.waiters.delete(0);
        reject(
          new OpenFlowError(`openflow ${where}: no HELLO within ${this.timeoutMs} ms`, {
            code: status.DEADLINE_EXCEEDED,
          }),
        );
      }, this.timeoutMs);
      // the switch's HELLO (any xid) and a HELLO_FAILED error (xid 0 or ours) land here
      this.waiters.set(0, {
        what: "HELLO",
        onMsg: (type, msg) => {
          if (type === MsgType.ERROR) {
            clearTimeout(timer);
            reject(this.errorFrom(msg, `openflow ${where} handshake`));
            return true;
          }
          if (type !== MsgType.HELLO) return false;
          const theirs = helloVersions(msg);
          if (!theirs.includes(OFP_VERSION)) {
            clearTimeout(timer);
            reject(
              new OpenFlowError(
                `openflow ${where}: no common version: the switch allows ${theirs.map((v) => `0x0${v}`).join(",")}, we need 0x04 (OpenFlow 1.3); check Bridge.protocols`,
                { ofType: 0, ofCode: 0 },
              ),
            );
            return true;
          }
          clearTimeout(timer);
          this.request(
            encodeHeader(MsgType.FEATURES_REQUEST, this.nextXid()),
            "FEATURES_REQUEST",
            MsgType.FEATURES_REPLY,
          ).then((m) => resolve(decodeFeatures(m)), reject);
          return true;
        },
        fail: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.write(encodeHello(helloXid));
    });
  }

  private onData(sock: Socket, b: Buffer): void {
    this.rx = this.rx.length ? Buffer.concat([this.rx, b]) : b;
    while (this.rx.length >= OFP_HEADER_LEN) {
      const len = this.rx.readUInt16BE(2);
      if (len < OFP_HEADER_LEN) {
        this.log.warn({ len }, "openflow: bad length from switch, dropping the session");
        sock.destroy();
        return;
      }
      if (this.rx.length < len) break;
      const msg = this.rx.subarray(0, len);
      this.rx = this.rx.subarray(len);
      try {
        this.onMessage(msg);
      } catch (e) {
        this.log.warn({ err: e, len }, "openflow: undecodable frame from the switch (untrusted), dropping the session");
        sock.destroy();
        return;
      }
    }
  }

  private onMessage(msg: Buffer): void {
    const h = decodeHeader(msg);
    if (h.type === MsgType.ECHO_REQUEST) {
      this.write(encodeHeader(MsgType.ECHO_REPLY, h.xid, msg.subarray(OFP_HEADER_LEN), h.version));
      return;
    }
    const hello = this.waiters.get(0);
    if (hello && (h.type === MsgType.HELLO || (h.type === MsgType.ERROR && decodeError(msg).type === 0))) {
      if (hello.onMsg(h.type, msg)) this.waiters.delete(0);
      return;
    }
    const w = this.waiters.get(h.xid);
    if (w && h.xid !== 0) {
      if (w.onMsg(h.type, msg)) {
        this.waiters.delete(h.xid);
        clearTimeout(w.timer);
      }
      return;
    }
    if (h.type === MsgType.ERROR) {
      const e = this.errorFrom(msg, "openflow: unsolicited");
      this.log.warn({ err: e }, "openflow error for no pending request");
      return void this.emit("error", e);
    }
    this.emit("message", h.type, msg);
  }

  /** Decodes an ERROR message; `data` holds (the start of) the offending request. */
  private errorFrom(msg: Buffer, what: string): OpenFlowError {
    const h = decodeHeader(msg);
    const e = decodeError(msg);
    const [tn, cn] = errorNames(e.type, e.code);
    let detail = "";
    if (e.type === 0) detail = `: ${e.data.toString("utf8").replace(/\0+$/, "")}`;
    else if (e.data.length >= OFP_HEADER_LEN) detail = ` (for ${msgName(e.data.readUInt8(1))})`;
    return new OpenFlowError(`${what}: ${tn}/${cn}${detail}`, {
      ofType: e.type,
      ofCode: e.code,
      xid: h.xid,
      data: Buffer.from(e.data),
    });
  }

  private write(b: Buffer): void {
    if (!this.sock)
      throw new OpenFlowError(
        `openflow ${formatOvsTarget(this.target)}: ${this.closed ? "client closed" : "not connected"}`,
      );
    this.sock.write(b);
  }

  private waitFor(
    xid: number,
    what: string,
    onMsg: Waiter["onMsg"],
    reject: (e: Error) => void,
    timeoutMs = this.timeoutMs,
  ): void {
    const w: Waiter = { what, onMsg, fail: reject };
    w.timer = setTimeout(() => {
      this.waiters.delete(xid);
      reject(
        new OpenFlowError(`openflow ${what} (xid ${xid}): no reply within ${timeoutMs} ms`, {
          code: status.DEADLINE_EXCEEDED,
          xid,
        }),
      );
    }, timeoutMs);
    this.waiters.set(xid, w);
  }

  /** Sends `msg` (its xid is read from it) and resolves with the reply of type `replyType`; an ERROR rejects. */
  request(msg: Buffer, what: string, replyType: number): Promise<Buffer> {
    const xid = msg.readUInt32BE(4);
    return new Promise((resolve, reject) => {
      this.waitFor(
        xid,
        what,
        (type, m) => {
          if (type === MsgType.ERROR) {
            reject(this.errorFrom(m, `openflow ${what}`));
            return true;
          }
          if (type !== replyType) return false;
          resolve(m);
          return true;
        },
        reject,
      );
      try {
        this.write(msg);
      } catch (e) {
        clearTimeout(this.waiters.get(xid)?.timer);
        this.waiters.delete(xid);
        reject(e);
      }
    });
  }

  /** Sends a MULTIPART_REQUEST and concatenates the bodies of all reply parts (MORE flag). */
  async multipart(type: number, body?: Buffer, prebuilt?: Buffer): Promise<Buffer> {
    const msg = prebuilt ?? encodeMultipartRequest(this.nextXid(), type, body);
    const xid = msg.readUInt32BE(4);
    const what = `MULTIPART ${type}`;
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      this.waitFor(
        xid,
        what,
        (t, m) => {
          if (t === MsgType.ERROR) {
            reject(this.errorFrom(m, `openflow ${what}`));
            return true;
          }
          if (t !== MsgType.MULTIPART_REPLY) return false;
          const r = decodeMultipartReply(m);
          parts.push(Buffer.from(r.body));
          if (r.more) return false;
          resolve(Buffer.concat(parts));
          return true;
        },
        reject,
      );
      try {
        this.write(msg);
      } catch (e) {
        clearTimeout(this.waiters.get(xid)?.timer);
        this.waiters.delete(xid);
        reject(e);
      }
    });
  }

  /** Round trip of an ECHO_REQUEST, in ms. */
  async echo(data: Buffer = Buffer.alloc(0)): Promise<number> {
    const t0 = performance.now();
    await this.request(encodeHeader(MsgType.ECHO_REQUEST, this.nextXid(), data), "ECHO_REQUEST", MsgType.ECHO_REPLY);
    return performance.now() - t0;
  }

  /** BARRIER_REQUEST: resolves when the switch has processed everything sent before it. */
  async barrier(): Promise<void> {
    await this.request(encodeHeader(MsgType.BARRIER_REQUEST, this.nextXid()), "BARRIER_REQUEST", MsgType.BARRIER_REPLY);
  }

  /**
   * Sends `mods` back to back plus one BARRIER; resolves when the switch acknowledged them all.
   * Each FLOW_MOD is applied on its own (OpenFlow has no batch atomicity): on failure the error
   * names the first failing one (`flow-mod 2/3 add {match}: BAD_ACTION/BAD_OUT_PORT`) and the
   * others did apply — `err.failed` lists every failing index.
   */
  async flowMods(mods: readonly FlowMod[]): Promise<void> {
    if (mods.length === 0) return;
    const encoded = mods.map((fm) => encodeFlowMod(this.nextXid(), fm)); // encoding errors throw here, before anything is sent
    const failed = new Map<number, OpenFlowError>();
    const byXid = new Map(encoded.map((b, i) => [b.readUInt32BE(4), i]));
    for (const [xid, i] of byXid) {
      this.waiters.set(xid, {
        what: "FLOW_MOD",
        onMsg: (type, m) => {
          if (type !== MsgType.ERROR) return false;
          const fm = mods[i]!;
          failed.set(
            i,
            this.errorFrom(m, `openflow flow-mod ${i + 1}/${mods.length} ${fm.command} ${describeFlowMod(fm)}`),
          );
          return true;
        },
        fail: () => {},
      });
    }
    try {
      this.write(Buffer.concat(encoded));
      await this.barrier();
    } finally {
      for (const xid of byXid.keys()) this.waiters.delete(xid);
    }
    if (failed.size) {
      const first = [...failed.entries()].sort((a, b) => a[0] - b[0])[0]![1];
      first.failed = [...failed.keys()].sort((a, b) => a - b);
      throw first;
    }
  }

  flowMod(fm: FlowMod): Promise<void> {
    return this.flowMods([fm]);
  }

  /** `ovs-ofctl dump-flows`: every flow matching the request (default: all tables, all flows). */
  async flowStats(r: FlowStatsRequest = {}): Promise<FlowStats[]> {
    return decodeFlowStats(
      await this.multipart(MultipartType.FLOW, undefined, encodeFlowStatsRequest(this.nextXid(), r)),
    );
  }

  /** Port counters; `port` default ANY = every port (LOCAL included, unsorted). */
  async portStats(port: number = OFPP.ANY): Promise<PortStats[]> {
    return decodePortStats(
      await this.multipart(MultipartType.PORT_STATS, undefined, encodePortStatsRequest(this.nextXid(), port)),
    );
  }

  /** Port numbers, names and MACs (maps ofport ↔ name). */
  async portDesc(): Promise<PortDesc[]> {
    return decodePortDesc(await this.multipart(MultipartType.PORT_DESC));
  }

  protected probe(): Promise<number> {
    return this.echo();
  }

  protected failPending(err: Error): void {
    for (const [xid, w] of [...this.waiters]) {
      clearTimeout(w.timer);
      this.waiters.delete(xid);
      w.fail(err);
    }
  }

  protected sessionError(message: string): OpenFlowError {
    return new OpenFlowError(message);
  }
}
