import { test } from "node:test";
import assert from "node:assert/strict";
import { create, NetworkServiceEndpointSchema, NetworkServiceSchema } from "../../../api/index.js";
import { chain, newCtx } from "../../../core/index.js";
import { checkRequest, newRequest } from "../../../core/testing/index.js";
import { CANDIDATES } from "../../utils/keys.js";
import { fixedRegistry } from "../../utils/testing-registry.js";
import { discoverServer } from "./server.js";

const nse = (name: string) =>
  create(NetworkServiceEndpointSchema, { name, url: `unix:///${name}.sock`, networkServiceNames: ["svc"] });

test("discover finds the network service by name and payload", async () => {
  const registry = fixedRegistry([create(NetworkServiceSchema, { name: "svc", payload: "ETHERNET" })], [nse("nse-1")]);
  const seen: string[] = [];
  const s = chain(
    discoverServer(registry),
    checkRequest((_r, ctx) =>
      seen.push(
        ctx
          .get(CANDIDATES)!
          .nses.map((n) => n.name)
          .join(),
      ),
    ),
  );
  const asIp = newRequest("d1", { networkService: "svc" });
  asIp.connection!.payload = "IP";
  await assert.rejects(s.request(asIp, newCtx()), /network service svc is not found \(with payload IP\)/);
  const asEth = newRequest("d1", { networkService: "svc" });
  asEth.connection!.payload = "ETHERNET";
  await s.request(asEth, newCtx());
  const any = newRequest("d1", { networkService: "svc" }); // no payload: any
  await s.request(any, newCtx());
  assert.deepEqual(seen, ["nse-1", "nse-1"]);
});

test("discover gives the caller the service's payload and the rest of the chain a copy", async () => {
  const registry = fixedRegistry([create(NetworkServiceSchema, { name: "svc", payload: "IP" })], [nse("nse-1")]);
  const s = chain(discoverServer(registry), {
    async request(req, ctx, next) {
      req.connection!.networkServiceEndpointName = "nse-1"; // as roundrobin does
      req.connection!.labels.touched = "yes";
      return next.request(req, ctx);
    },
  });
  const req = newRequest("d2", { networkService: "svc" });
  const out = await s.request(req, newCtx());
  assert.equal(out.networkServiceEndpointName, "nse-1");
  assert.equal(req.connection!.payload, "IP", "upstream sets the payload on the caller's request");
  assert.equal(req.connection!.networkServiceEndpointName, "", "later elements edit a copy");
  assert.deepEqual(req.connection!.labels, {});
});
