/** Our registry (memory store) served on a URL, for tests that stop it and start it again there. */
import { serve, type GrpcServer } from "../../src/core/index.js";
import { createRegistry, type Registry } from "../../src/registry/chains/registry.js";

/**
 * A registry served on `url`; `down()` stops it (server, then registry), `up()` starts a fresh
 * one (empty store) on the same URL.
 *
 *   const r = await registryAt(`unix://${dir}/reg.sock`);
 *   await r.down(); await r.up();
 */
export async function registryAt(url: string, expirePeriodMs = 60_000) {
  let reg: Registry, srv: GrpcServer, ac: AbortController;
  const up = async () => {
    ac = new AbortController();
    reg = await createRegistry({ expirePeriodMs, signal: ac.signal });
    srv = await serve([url], { nseRegistry: reg.nse, nsRegistry: reg.ns });
  };
  await up();
  return {
    get reg() {
      return reg;
    },
    async down() {
      await srv.close();
      await reg.close();
      ac.abort();
    },
    up,
  };
}
