/**
 * Registry chains for both registries (NetworkServiceEndpointRegistry, NetworkServiceRegistry):
 * Register returns the stored entry, Find is a server stream (an AsyncIterable that, with
 * `watch`, ends only when `ctx.signal` does or the consumer stops), Unregister returns nothing.
 *
 *   const nse: NseRegistryChain = registryChain(beginNse(), expireNse(), memoryNse());
 *   for await (const r of nse.find(query, ctx)) console.log(r.networkServiceEndpoint?.name);
 */
import type {
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse,
  NetworkService,
  NetworkServiceQuery,
  NetworkServiceResponse,
} from "../api/index.js";
import type { Ctx } from "./context.js";
import { _linker } from "./chain.js";

export interface RegistryServer<T, Q, R> {
  register(entry: T, ctx: Ctx): Promise<T>;
  find(query: Q, ctx: Ctx): AsyncIterable<R>;
  unregister(entry: T, ctx: Ctx): Promise<void>;
}
export interface RegistryElement<T, Q, R> {
  register?(entry: T, ctx: Ctx, next: RegistryServer<T, Q, R>): Promise<T>;
  find?(query: Q, ctx: Ctx, next: RegistryServer<T, Q, R>): AsyncIterable<R>;
  unregister?(entry: T, ctx: Ctx, next: RegistryServer<T, Q, R>): Promise<void>;
}
export interface RegistryChain<T, Q, R> extends RegistryElement<T, Q, R> {
  register(entry: T, ctx: Ctx, next?: RegistryServer<T, Q, R>): Promise<T>;
  find(query: Q, ctx: Ctx, next?: RegistryServer<T, Q, R>): AsyncIterable<R>;
  unregister(entry: T, ctx: Ctx, next?: RegistryServer<T, Q, R>): Promise<void>;
}

export type NseRegistryServer = RegistryServer<
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse
>;
export type NseRegistryElement = RegistryElement<
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse
>;
export type NseRegistryChain = RegistryChain<
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse
>;
export type NsRegistryServer = RegistryServer<NetworkService, NetworkServiceQuery, NetworkServiceResponse>;
export type NsRegistryElement = RegistryElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse>;
export type NsRegistryChain = RegistryChain<NetworkService, NetworkServiceQuery, NetworkServiceResponse>;

/** End of a registry chain: Register echoes, Find yields nothing, Unregister does nothing. */
export function registryTail<T, Q, R>(): RegistryServer<T, Q, R> {
  return { register: async (e) => e, async *find() {}, unregister: async () => {} };
}
const TAIL = registryTail<never, never, never>();

export function registryChain<T, Q, R>(...elements: readonly RegistryElement<T, Q, R>[]): RegistryChain<T, Q, R> {
  const link = _linker<RegistryElement<T, Q, R>, RegistryServer<T, Q, R>>(elements, (el, rest) => ({
    register: el.register ? (e, c) => el.register!(e, c, rest) : (e, c) => rest.register(e, c),
    find: el.find ? (q, c) => el.find!(q, c, rest) : (q, c) => rest.find(q, c),
    unregister: el.unregister ? (e, c) => el.unregister!(e, c, rest) : (e, c) => rest.unregister(e, c),
  }));
  const tail = TAIL as unknown as RegistryServer<T, Q, R>;
  return {
    register: (e, c, next = tail) => link(next).register(e, c),
    find: (q, c, next = tail) => link(next).find(q, c),
    unregister: (e, c, next = tail) => link(next).unregister(e, c),
  };
}
export const nseChain = registryChain<
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse
>;
export const nsChain = registryChain<NetworkService, NetworkServiceQuery, NetworkServiceResponse>;

/** Element that hands every registry call to `server`, ignoring `next`. */
export function registryConnectTo<T, Q, R>(server: RegistryServer<T, Q, R>): RegistryElement<T, Q, R> {
  return {
    register: (e, c) => server.register(e, c),
    find: (q, c) => server.find(q, c),
    unregister: (e, c) => server.unregister(e, c),
  };
}
