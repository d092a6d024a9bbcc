/**
 * heal (client, both registries): after a Register, keeps a watch Find by the entry's name open
 * on the next hop. When that stream breaks (registry restarted or unreachable) or reports the
 * entry deleted while we still hold it (registry lost or expired it), it re-registers through
 * begin's event factory (and so through retry, until the registry is back), then watches again.
 * Unregister and the chain's end stop it. upstream: sdk pkg/registry/common/heal.
 *
 * An entry registered through another domain comes back named `name@domain`, so its watch goes
 * the same way (nsmgr-proxy, registry-proxy-dns, that domain's registry) and breaks when any of
 * them restarts. A watch that keeps breaking at once backs off (doubling up to 10 s).
 */
import { type Ctx, detach, messageOf, type RegistryElement } from "../../../core/index.js";
import { registryEvents } from "../begin/server.js";
import { type Kind, sleep } from "../../tools.js";

export function healClient<T, Q, R>(
  kind: Kind<T, Q, R>,
  o: { signal: AbortSignal; minIntervalMs?: number },
): RegistryElement<T, Q, R> {
  const watches = new Map<string, AbortController>();
  const stop = (name: string) => {
    watches.get(name)?.abort();
    watches.delete(name);
  };
  o.signal.addEventListener(
    "abort",
    () => {
      for (const n of [...watches.keys()]) stop(n);
    },
    { once: true },
  );

  async function loop(name: string, ac: AbortController, ctx: Ctx, next: { find(q: Q, c: Ctx): AsyncIterable<R> }) {
    const events = registryEvents<T>(ctx, "client");
    if (!events) return;
    const wctx = detach(ctx, ac.signal, Infinity);
    const query = kind.makeQuery(kind.fromName(name), true);
    const min = o.minIntervalMs ?? 200;
    let pause = min; // doubles (up to 10 s) while the watch keeps breaking at once
    while (!ac.signal.aborted) {
      const started = Date.now();
      let lost = false;
      try {
        const it = next.find(query, wctx);
        for await (const r of it) {
          const { item, deleted } = kind.itemOf(r);
          if (deleted && item && kind.nameOf(item) === name) {
            lost = true;
            break;
          }
        }
      } catch (err) {
        if (ac.signal.aborted) return;
        ctx.log.debug({ name, err: messageOf(err) }, "registry client: heal watch broke");
      }
      if (ac.signal.aborted) return;
      ctx.log.info({ name, lost }, "registry client: re-registering");
      await events
        .register({ signal: ac.signal, timeoutMs: Infinity })
        .catch((err) => ctx.log.warn({ name, err: messageOf(err) }, "registry client: heal re-register failed"));
      pause = Date.now() - started < 2000 ? Math.min(pause * 2, 10_000) : min;
      await sleep(Math.max(0, pause - (Date.now() - started)), ac.signal);
    }
  }

  return {
    async register(e, ctx, next) {
      const res = await next.register(e, ctx);
      const name = kind.nameOf(res);
      if (!watches.has(name) && !o.signal.aborted && registryEvents(ctx, "client")) {
        const ac = new AbortController();
        watches.set(name, ac);
        void loop(name, ac, ctx, next);
      }
      return res;
    },
    async unregister(e, ctx, next) {
      stop(kind.nameOf(e));
      return next.unregister(e, ctx);
    },
  };
}
