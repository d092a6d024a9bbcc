/**
 * NSM_NETWORK_SERVICES URLs (upstream `sdk/pkg/tools/nsurl`, as cmd-nsc reads them): `kernel://my-ns@domain/nsm-1?app=foo`
 * → network service `my-ns@domain`, mechanism KERNEL, interface `nsm-1`, labels {app: foo}.
 */
import {
  cls,
  create,
  NetworkServiceRequestSchema,
  newMechanism,
  truncateIfname,
  kernel,
  type NetworkServiceRequest,
} from "../../api/index.js";

export interface NsUrl {
  readonly url: string;
  readonly networkService: string;
  /** upper-cased scheme: KERNEL, MEMIF, VFIO, ... */
  readonly mechanism: string;
  /** last path element, if any */
  readonly ifname?: string;
  readonly labels: Readonly<Record<string, string>>;
}

export class NsUrlError extends Error {
  constructor(
    readonly value: string,
    reason: string,
  ) {
    super(`invalid network service URL "${value}": ${reason}`);
  }
}

export function parseNsUrl(value: string): NsUrl {
  const v = value.trim();
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/.exec(v);
  if (!m) throw new NsUrlError(value, "expected <mechanism>://<service>[@<domain>][/<ifname>][?label=value&...]");
  const [, scheme, authority, path, query] = m as unknown as [string, string, string, string, string | undefined];
  const at = authority.lastIndexOf("@");
  const user = at >= 0 ? decodeURIComponent(authority.slice(0, at)) : "";
  const host = decodeURIComponent(at >= 0 ? authority.slice(at + 1) : authority);
  const networkService = user ? `${user}@${host}` : host;
  if (!networkService) throw new NsUrlError(value, "no network service name");
  const parts = path.split("/");
  const ifname = parts.length > 1 && parts[parts.length - 1] ? decodeURIComponent(parts[parts.length - 1]!) : undefined;
  // the kernel keeps IFNAMSIZ-1 bytes: a longer name would be cut, so refuse it instead
  if (ifname !== undefined && Buffer.byteLength(ifname) > 15)
    throw new NsUrlError(value, `interface name "${ifname}" is longer than 15 bytes`);
  const labels: Record<string, string> = {};
  for (const [k, val] of new URLSearchParams(query ?? "")) {
    if (!k) throw new NsUrlError(value, "a label has no name (use ?name=value)");
    if (!val) throw new NsUrlError(value, `label "${k}" has no value (use ?${k}=value)`);
    labels[k] = k in labels ? `${labels[k]},${val}` : val;
  }
  return { url: v, networkService, mechanism: scheme.toUpperCase(), ifname, labels };
}

/** The request an NSC sends for `u`: connection `{id, network_service, labels}` and one mechanism preference. */
export function requestFromNsUrl(u: NsUrl, id: string, o: { netnsUrl?: string } = {}): NetworkServiceRequest {
  const params: Record<string, string> = {};
  if (u.ifname) params[kernel.keys.INTERFACE_NAME] = truncateIfname(u.ifname);
  if (u.mechanism === kernel.MECHANISM && o.netnsUrl) params[kernel.keys.NETNS_URL] = o.netnsUrl;
  return create(NetworkServiceRequestSchema, {
    connection: { id, networkService: u.networkService, labels: { ...u.labels } },
    mechanismPreferences: [newMechanism(cls.LOCAL, u.mechanism, params)],
  });
}
