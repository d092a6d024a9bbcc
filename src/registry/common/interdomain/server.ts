/**
 * interdomain switch: registrations and queries whose name (or, for NSEs, a service name)
 * contains "@" go to the proxy registry chain; everything else goes on down the chain.
 * Without a proxy such calls fail with InvalidArgument naming the name.
 * upstream: the switchcase in sdk pkg/registry/chains/memory.
 */
import { NsmError, type RegistryElement, type RegistryServer, status } from "../../../core/index.js";
import { interdomain, type Kind } from "../../tools.js";

export function interdomainServer<T, Q, R>(
  kind: Kind<T, Q, R>,
  proxy: RegistryServer<T, Q, R> | undefined,
  extraNames: (e: T) => readonly string[] = () => [],
): RegistryElement<T, Q, R> {
  const isRemote = (e: T | undefined) => !!e && (interdomain.is(kind.nameOf(e)) || extraNames(e).some(interdomain.is));
  const target = (e: T): RegistryServer<T, Q, R> => {
    if (proxy) return proxy;
    throw new NsmError(
      status.INVALID_ARGUMENT,
      `${kind.label} "${kind.nameOf(e)}" is interdomain but no proxy registry is configured (NSM_PROXY_REGISTRY_URL)`,
    );
  };
  return {
    register: (e, ctx, next) => (isRemote(e) ? target(e).register(e, ctx) : next.register(e, ctx)),
    unregister: (e, ctx, next) => (isRemote(e) ? target(e).unregister(e, ctx) : next.unregister(e, ctx)),
    find(q, ctx, next) {
      const item = kind.query(q).item;
      return isRemote(item) ? target(item!).find(q, ctx) : next.find(q, ctx);
    },
  };
}
