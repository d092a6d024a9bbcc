/**
 * swapip (nsmgr-proxy): tunnel addresses cross domains as external addresses (the IP map, see
 * src/tools/mapip.ts). Server side, on the destination nsmgr-proxy: a request from another
 * domain (its mechanisms carry `orig_src_ip`) has no business naming a `dst_ip`: cleared; the
 * answer's `dst_ip` becomes external (the internal one is kept in `orig_dst_ip`).
 * Client side, on the source nsmgr-proxy: `src_ip` becomes external (the internal one kept in
 * `orig_src_ip`) on the way out and is restored on the way back. An address the map does not
 * name stays as it is. upstream: sdk pkg/networkservice/common/swapip.
 */
import type { Mechanism, NetworkServiceRequest } from "../../../api/index.js";
import { commonKeys } from "../../../api/index.js";
import type { ClientElement, ServerElement } from "../../../core/index.js";
import type { IpMap } from "../../../tools/mapip.js";

const { SRC_IP, DST_IP, ORIG_SRC_IP, ORIG_DST_IP } = commonKeys;

const tunnels = (req: NetworkServiceRequest): Mechanism[] =>
  [...req.mechanismPreferences, ...(req.connection?.mechanism ? [req.connection.mechanism] : [])].filter(
    (m) => !!m.parameters[SRC_IP],
  );

export function swapIpServer(map: IpMap): ServerElement {
  return {
    async request(req, ctx, next) {
      for (const m of tunnels(req))
        if (m.parameters[ORIG_SRC_IP]) {
          delete m.parameters[DST_IP];
          delete m.parameters[ORIG_DST_IP];
        }
      const res = await next.request(req, ctx);
      const p = res.mechanism?.parameters;
      if (p?.[ORIG_SRC_IP] && p[DST_IP]) {
        p[ORIG_DST_IP] = p[DST_IP];
        p[DST_IP] = map.get(p[DST_IP]);
      }
      return res;
    },
  };
}

export function swapIpClient(map: IpMap): ClientElement {
  return {
    async request(req, ctx, next) {
      // only what this element swapped is restored (a request from another domain arrives swapped)
      const mine = tunnels(req).filter((m) => !m.parameters[ORIG_SRC_IP]);
      for (const m of mine) {
        m.parameters[ORIG_SRC_IP] = m.parameters[SRC_IP]!;
        m.parameters[SRC_IP] = map.get(m.parameters[SRC_IP]!);
      }
      const res = await next.request(req, ctx);
      const p = res.mechanism?.parameters;
      if (mine.length && p?.[ORIG_SRC_IP]) {
        p[SRC_IP] = p[ORIG_SRC_IP];
        delete p[ORIG_SRC_IP];
      }
      return res;
    },
  };
}
