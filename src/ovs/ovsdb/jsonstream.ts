/**
 * Splits a byte stream of JSON values written back to back (`{…}{…}`, no separator, as
 * ovsdb-server sends them) into parsed values. Chunks may cut a value, or a UTF-8 character,
 * anywhere.
 *
 *   const split = new JsonSplitter((v) => handle(v));
 *   socket.on("data", (b) => split.push(b));
 */
import { StringDecoder } from "node:string_decoder";

export class JsonSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private buf = "";
  private scanned = 0; // chars of buf already scanned
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1; // index of the current top-level value's first char

  /** `limit` bounds one value's size in chars; a larger one throws (a broken or hostile peer). */
  constructor(
    private readonly onValue: (v: unknown) => void,
    private readonly limit = 64 * 1024 * 1024,
  ) {}

  /** Feeds bytes; calls onValue for each completed value. Throws SyntaxError on malformed JSON. */
  push(chunk: Buffer): void {
    this.buf += this.decoder.write(chunk);
    const s = this.buf;
    let i = this.scanned;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22 /* " */) this.inString = false;
        continue;
      }
      if (c === 0x22) {
        this.inString = true;
        continue;
      }
      if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
        if (this.depth++ === 0) this.start = i;
      } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
        if (--this.depth === 0) {
          const text = s.slice(this.start, i + 1);
          this.start = -1;
          this.onValue(JSON.parse(text));
        } else if (this.depth < 0) {
          throw new SyntaxError(`JSON stream: unbalanced "${String.fromCharCode(c)}" at offset ${i}`);
        }
      } else if (this.depth === 0 && c > 0x20) {
        throw new SyntaxError(`JSON stream: expected "{" or "[" between values, got "${String.fromCharCode(c)}"`);
      }
    }
    // keep only the unfinished value
    if (this.depth === 0) {
      this.buf = "";
      this.scanned = 0;
    } else {
      this.buf = s.slice(this.start);
      this.scanned = this.buf.length;
      this.start = 0;
      if (this.buf.length > this.limit) throw new RangeError(`JSON stream: a value exceeds ${this.limit} chars`);
    }
  }

  /** Drops any partial value (after a reconnect). */
  reset(): void {
    this.buf = "";
    this.scanned = 0;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.start = -1;
    this.decoder.end();
  }
}
