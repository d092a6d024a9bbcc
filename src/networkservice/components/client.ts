/** The client (NSC) component (see ../components.ts). */
import { type ClientElement } from "../../core/index.js";
import { type TokenGenerator } from "../../tools/token/index.js";
import { client, type Client } from "../chains/client.js";
import { clientInfoClient } from "../common/clientinfo/client.js";
import type { HealOptions } from "../common/heal/client.js";
import { kernelMechanismClient } from "../common/mechanisms/kernel/client.js";
import { memifMechanismClient } from "../common/mechanisms/memif/client.js";
import { sendFdClient } from "../common/mechanisms/sendfd/client.js";
import { instrumentHeal, telemetryClient } from "../utils/telemetry.js";
import { basics, type Common } from "./common.js";

export interface ClientConfig extends Common {
  /** NSM_CONNECT_TO */
  nsmgrUrl: string;
  /** heal options, or false (default: heal without liveness check) */
  heal?: HealOptions | false;
  refresh?: boolean;
  /** request again when the endpoint asks (REFRESH_REQUESTED: a vL3 endpoint's new MTU or prefix; default true) */
  upstreamRefresh?: boolean;
  /** our netns for KERNEL mechanisms (default /proc/<pid>/ns/net) */
  netnsUrl?: string;
  /** offer only the mechanisms each request names (nsc: the URL's scheme), never a KERNEL fallback */
  onlyAskedMechanisms?: boolean;
  extra?: readonly ClientElement[];
  env?: Readonly<Record<string, string | undefined>>;
}

export interface NscHandle {
  readonly client: Client;
  readonly tokens: TokenGenerator;
  close(): Promise<void>;
}

/** The NSC's client chain: clientinfo, kernel mechanism (netns as a file URL), refresh, heal and upstream refresh. */
export async function createClient(o: ClientConfig): Promise<NscHandle> {
  const { life, tokens, log, unlisten } = await basics(o);
  const c = client({
    name: o.name,
    signal: life.signal,
    tokens,
    connectTo: o.nsmgrUrl,
    dialTimeoutMs: o.dialTimeoutMs,
    refresh: o.refresh,
    upstreamRefresh: o.upstreamRefresh ?? true,
    heal: instrumentHeal(o.heal === undefined ? {} : o.heal, o.telemetry),
    extra: [
      ...telemetryClient(o.telemetry),
      clientInfoClient(o.env),
      kernelMechanismClient({ netnsUrl: o.netnsUrl, offer: !o.onlyAskedMechanisms }),
      memifMechanismClient({ netnsUrl: o.netnsUrl, offer: false }),
      ...(o.extra ?? []),
      sendFdClient(), // our netns leaves as an fd on unix sockets
    ],
  });
  void log;
  return {
    client: c,
    tokens,
    async close() {
      unlisten();
      life.abort();
      c.dispose();
    },
  };
}
