/**
 * NSM URLs (upstream `sdk/pkg/tools/grpcutils`; docs/api.md "URLs"): `unix:///abs/path.sock`, `tcp://host:port`, `tcp://[v6]:port`,
 * `tcp://:port` (listen on all). Anything else is rejected with a message naming the value.
 */
export type NsmUrl =
  | { readonly scheme: "unix"; readonly path: string; readonly href: string }
  | { readonly scheme: "tcp"; readonly host: string; readonly port: number; readonly href: string };

export class UrlError extends Error {
  constructor(
    readonly value: string,
    reason: string,
  ) {
    super(`invalid URL "${value}": ${reason}`);
  }
}

export function parseUrl(value: string): NsmUrl {
  const v = value.trim();
  if (v.startsWith("unix://")) {
    const path = v.slice("unix://".length);
    if (!path.startsWith("/")) throw new UrlError(value, "a unix URL needs an absolute path (unix:///path/to.sock)");
    return { scheme: "unix", path, href: `unix://${path}` };
  }
  if (v.startsWith("tcp://")) {
    const rest = v.slice("tcp://".length).replace(/\/$/, "");
    const m = /^(\[[0-9a-fA-F:.%a-zA-Z]+\]|[^:/[\]]*):(\d{1,5})$/.exec(rest);
    if (!m) throw new UrlError(value, "expected tcp://host:port");
    const port = Number(m[2]);
    if (port > 65535) throw new UrlError(value, `port ${port} is out of range`);
    const host = m[1]!.startsWith("[") ? m[1]!.slice(1, -1) : m[1]!;
    return { scheme: "tcp", host, port, href: `tcp://${m[1]}:${port}` };
  }
  throw new UrlError(value, "scheme must be unix:// or tcp://");
}

/** The grpc-js target for dialing: the whole URL for unix, `host:port` for tcp (as upstream). */
export function dialTarget(u: NsmUrl): string {
  if (u.scheme === "unix") return `unix://${u.path}`;
  const host = u.host === "" ? "127.0.0.1" : u.host.includes(":") ? `[${u.host}]` : u.host;
  return `${host}:${u.port}`;
}

/** The grpc-js bind address for listening. */
export function listenTarget(u: NsmUrl): string {
  if (u.scheme === "unix") return `unix://${u.path}`;
  const host = u.host === "" ? "0.0.0.0" : u.host.includes(":") ? `[${u.host}]` : u.host;
  return `${host}:${u.port}`;
}

export function formatUrl(u: NsmUrl): string {
  return u.href;
}
