/**
 * MonitorConnection chains: `monitorConnections(selector, ctx)` yields ConnectionEvents until
 * `ctx.signal` ends or the consumer stops iterating.
 */
import type { ConnectionEvent, MonitorScopeSelector } from "../api/index.js";
import type { Ctx } from "./context.js";
import { _linker } from "./chain.js";

export interface MonitorConnectionServer {
  monitorConnections(sel: MonitorScopeSelector, ctx: Ctx): AsyncIterable<ConnectionEvent>;
}
export interface MonitorElement {
  monitorConnections?(
    sel: MonitorScopeSelector,
    ctx: Ctx,
    next: MonitorConnectionServer,
  ): AsyncIterable<ConnectionEvent>;
}
export interface MonitorChain extends MonitorElement {
  monitorConnections(
    sel: MonitorScopeSelector,
    ctx: Ctx,
    next?: MonitorConnectionServer,
  ): AsyncIterable<ConnectionEvent>;
}

export const monitorTail: MonitorConnectionServer = { async *monitorConnections() {} };

export function monitorChain(...elements: readonly MonitorElement[]): MonitorChain {
  const link = _linker<MonitorElement, MonitorConnectionServer>(elements, (el, rest) => ({
    monitorConnections: el.monitorConnections
      ? (s, c) => el.monitorConnections!(s, c, rest)
      : (s, c) => rest.monitorConnections(s, c),
  }));
  return { monitorConnections: (s, c, next = monitorTail) => link(next).monitorConnections(s, c) };
}
