/**
 * The Go-template subset that names a vL3 client in DNS (upstream NSM_DNS_TEMPLATES, default
 * `{{ index .Labels "podName" }}.{{ .NetworkService }}.`): actions `.Field` (Id,
 * NetworkService, NetworkServiceEndpointName), `index .Labels "key"`, and the interdomain helpers
 * `target .NetworkService` / `domain .NetworkService` (the parts of `name@domain`). Repeated dots
 * collapse to one.
 */
import type { Connection } from "../../api/index.js";

const FIELDS: Record<string, (c: Connection) => string> = {
  Id: (c) => c.id,
  NetworkService: (c) => c.networkService,
  NetworkServiceEndpointName: (c) => c.networkServiceEndpointName,
};

function value(expr: string, c: Connection, tpl: string): string {
  const words = expr.trim().match(/"[^"]*"|\S+/g) ?? [];
  const field = (w: string) => {
    const f = FIELDS[w.replace(/^\./, "")];
    if (!f) throw new Error(`DNS template ${tpl}: unknown field ${w}`);
    return f(c);
  };
  if (words[0] === "index" && words[1] === ".Labels" && words[2]?.startsWith('"'))
    return c.labels[words[2].slice(1, -1)] ?? "";
  if (words[0] === "target" && words[1]) return field(words[1]).split("@")[0]!;
  if (words[0] === "domain" && words[1]) return field(words[1]).split("@")[1] ?? "";
  if (words.length === 1 && words[0]!.startsWith(".")) return field(words[0]!);
  throw new Error(`DNS template ${tpl}: cannot read {{${expr}}}`);
}

/** checks a template (throws naming it) */
export function checkTemplate(tpl: string, probe: Connection): void {
  renderTemplate(tpl, probe);
}

export function renderTemplate(tpl: string, c: Connection): string {
  return tpl.replace(/\{\{(.*?)\}\}/g, (_, e: string) => value(e, c, tpl)).replace(/\.{2,}/g, ".");
}
