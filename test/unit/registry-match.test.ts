import { test } from "node:test";
import assert from "node:assert/strict";
import {
  create,
  MatchSchema,
  NetworkServiceEndpointSchema,
  NetworkServiceSchema,
  timestampFromMs,
} from "../../src/api/index.js";
import { isSubset, matchEndpoint, matchNs, matchNse, renderTemplate } from "../../src/registry/match.js";

const nse = (
  name: string,
  labels: Record<string, string> = {},
  o: { url?: string; services?: string[]; exp?: number } = {},
) =>
  create(NetworkServiceEndpointSchema, {
    name,
    url: o.url ?? `tcp://10.0.0.1:${name.length}`,
    networkServiceNames: o.services ?? ["svc"],
    networkServiceLabels: { svc: { labels } },
    expirationTime: o.exp === undefined ? undefined : timestampFromMs(o.exp),
  });

test("matchNse: each non-empty query field filters", { timeout: 5000 }, () => {
  const c = nse("a", { app: "x" }, { url: "tcp://1.2.3.4:5", services: ["svc", "other"], exp: 5_000_000 });
  const q = (init: Parameters<typeof create<typeof NetworkServiceEndpointSchema>>[1]) =>
    create(NetworkServiceEndpointSchema, init);
  assert.ok(matchNse(q({}), c));
  assert.ok(matchNse(q({ name: "a" }), c));
  assert.ok(!matchNse(q({ name: "ab" }), c));
  assert.ok(matchNse(q({ url: "1.2.3" }), c));
  assert.ok(!matchNse(q({ url: "9.9" }), c));
  assert.ok(matchNse(q({ networkServiceNames: ["other", "svc"] }), c));
  assert.ok(!matchNse(q({ networkServiceNames: ["nope"] }), c));
  assert.ok(matchNse(q({ networkServiceLabels: { svc: { labels: { app: "x" } } } }), c));
  assert.ok(!matchNse(q({ networkServiceLabels: { svc: { labels: { app: "y" } } } }), c));
  assert.ok(!matchNse(q({ networkServiceLabels: { zzz: { labels: {} } } }), c));
  assert.ok(matchNse(q({ expirationTime: timestampFromMs(5_000_400) }), c), "equal seconds");
  assert.ok(!matchNse(q({ expirationTime: timestampFromMs(6_000_000) }), c));
});

test("matchNs: name, payload, matches deep-equal", { timeout: 5000 }, () => {
  const m = [create(MatchSchema, { sourceSelector: { a: "b" } })];
  const c = create(NetworkServiceSchema, { name: "n", payload: "IP", matches: m });
  assert.ok(matchNs(create(NetworkServiceSchema, {}), c));
  assert.ok(matchNs(create(NetworkServiceSchema, { name: "n", payload: "IP", matches: m }), c));
  assert.ok(!matchNs(create(NetworkServiceSchema, { payload: "ETHERNET" }), c));
  assert.ok(
    !matchNs(create(NetworkServiceSchema, { matches: [create(MatchSchema, { sourceSelector: { a: "c" } })] }), c),
  );
});

test("templates and isSubset follow Go semantics", { timeout: 5000 }, () => {
  assert.equal(renderTemplate("{{.podName}}", { podName: "p1" }), "p1");
  assert.equal(renderTemplate("x-{{ .nodeName }}-y", { nodeName: "n" }), "x-n-y");
  assert.equal(renderTemplate("{{.missing}}", {}), "<no value>");
  assert.equal(
    renderTemplate("{{if .x}}a{{end}}", { x: "1" }),
    "{{if .x}}a{{end}}",
    "unsupported template stays literal",
  );
  assert.ok(isSubset({ a: "1", b: "2" }, { a: "1" }, {}));
  assert.ok(!isSubset({ a: "1" }, { a: "1", b: "2" }, {}));
  assert.ok(isSubset({ pod: "p1" }, { pod: "{{.podName}}" }, { podName: "p1" }));
  assert.ok(isSubset({ a: "1" }, {}, {}), "empty selector matches");
});

test("matchEndpoint: source selectors, routes, fallthrough, metadata, expired dropped", { timeout: 5000 }, () => {
  const blue = nse("blue", { color: "blue", node: "n1" }),
    red = nse("red", { color: "red" });
  const expired = nse("old", { color: "blue" }, { exp: Date.now() - 1000 });
  const all = [blue, red, expired];
  const names = (xs: { name: string }[]) => xs.map((x) => x.name);
  // no matches: every live NSE
  assert.deepEqual(names(matchEndpoint({}, create(NetworkServiceSchema, { name: "svc" }), all)), ["blue", "red"]);
  const ns = create(NetworkServiceSchema, {
    name: "svc",
    matches: [
      { sourceSelector: { app: "a" }, routes: [{ destinationSelector: { color: "green" } }], fallthrough: true },
      { sourceSelector: { app: "a" }, routes: [{ destinationSelector: { color: "red" } }] },
      { sourceSelector: { app: "b" }, routes: [{ destinationSelector: { node: "{{.nodeName}}" } }] },
      { sourceSelector: { app: "c" }, metadata: { labels: { any: "1" } } },
      { sourceSelector: { app: "d" }, routes: [{ destinationSelector: { color: "green" } }] },
    ],
  });
  assert.deepEqual(names(matchEndpoint({ app: "a" }, ns, all)), ["red"], "fallthrough to the next match");
  assert.deepEqual(
    names(matchEndpoint({ app: "b", nodeName: "n1" }, ns, all)),
    ["blue"],
    "template in destination selector",
  );
  assert.deepEqual(names(matchEndpoint({ app: "b", nodeName: "n2" }, ns, all)), []);
  assert.deepEqual(names(matchEndpoint({ app: "c" }, ns, all)), ["blue", "red"], "metadata without routes → all");
  assert.deepEqual(names(matchEndpoint({ app: "d" }, ns, all)), [], "no fallthrough → empty");
  assert.deepEqual(names(matchEndpoint({ app: "zzz" }, ns, all)), [], "no match applies → none");
});
