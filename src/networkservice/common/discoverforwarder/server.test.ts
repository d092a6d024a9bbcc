import { test } from "node:test";
import assert from "node:assert/strict";
import {
  create,
  MatchSchema,
  NetworkServiceEndpointSchema,
  NetworkServiceSchema,
  type NetworkServiceEndpoint,
} from "../../../api/index.js";
import { beginServer, chain, newCtx } from "../../../core/index.js";
import { checkRequest, newRequest } from "../../../core/testing/index.js";
import { CLIENT_URL } from "../../utils/keys.js";
import { fixedRegistry } from "../../utils/testing-registry.js";
import { discoverForwarderServer, matchForwarders } from "./server.js";

const fwd = (name: string, labels: Record<string, string>): NetworkServiceEndpoint =>
  create(NetworkServiceEndpointSchema, {
    name,
    url: `unix:///${name}.sock`,
    networkServiceNames: ["forwarder"],
    networkServiceLabels: { forwarder: { labels } },
  });
const fwds = [fwd("fwd-p2p", { p2p: "true" }), fwd("fwd-other", { kind: "other" })];

test("matchForwarders: a match with no metadata, or metadata with an empty labels map, selects p2p=true", () => {
  for (const metadata of [undefined, { labels: {} }]) {
    const ns = create(NetworkServiceSchema, { name: "svc", matches: [create(MatchSchema, { metadata })] });
    const got = matchForwarders({}, ns, fwds, "forwarder").map((f) => f.name);
    assert.deepEqual(got, ["fwd-p2p"], `metadata ${JSON.stringify(metadata)}`);
  }
  const ns = create(NetworkServiceSchema, {
    name: "svc",
    matches: [create(MatchSchema, { metadata: { labels: { kind: "other" } } })],
  });
  assert.deepEqual(
    matchForwarders({}, ns, fwds, "forwarder").map((f) => f.name),
    ["fwd-other"],
  );
});

test("discoverforwarder looks the service up by name and payload", async () => {
  const registry = fixedRegistry([create(NetworkServiceSchema, { name: "svc", payload: "ETHERNET" })], fwds);
  const urls: string[] = [];
  const s = chain(
    beginServer(),
    discoverForwarderServer(registry),
    checkRequest((_r, ctx) => urls.push(ctx.get(CLIENT_URL)!)),
  );
  const ip = newRequest("f1", { networkService: "svc" });
  ip.connection!.payload = "IP";
  await assert.rejects(s.request(ip, newCtx()), /network service svc is not found \(with payload IP\)/);
  const eth = newRequest("f1", { networkService: "svc" });
  eth.connection!.payload = "ETHERNET";
  await s.request(eth, newCtx());
  assert.equal(urls.length, 1);
});
