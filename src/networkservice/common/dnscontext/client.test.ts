// dnsContextClient keeps each connection's DNS configs from the answers, adds the original one,
// forgets a connection's configs on Close.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, ConnectionSchema, NetworkServiceRequestSchema } from "../../../api/index.js";
import { chain, newCtx } from "../../../core/index.js";
import { dnsContextClient } from "./client.js";

test("stores the configs of the answer; Close forgets them; the original comes last", async () => {
  const el = dnsContextClient({ dnsServerIps: ["10.96.0.10"], searchDomains: ["cluster.local"] });
  const c = chain(el, {
    async request(req) {
      const conn = req.connection!;
      conn.context = create(ConnectionSchema, {
        context: { dnsContext: { configs: [{ dnsServerIps: ["172.16.0.0"], searchDomains: ["vl3"] }] } },
      }).context;
      return conn;
    },
  });
  const req = create(NetworkServiceRequestSchema, { connection: { id: "c-0" } });
  const conn = await c.request(req, newCtx());
  assert.deepEqual(el.configs(), [
    { dnsServerIps: ["172.16.0.0"], searchDomains: ["vl3"] },
    { dnsServerIps: ["10.96.0.10"], searchDomains: ["cluster.local"] },
  ]);
  await c.close(conn, newCtx());
  assert.deepEqual(el.configs(), [{ dnsServerIps: ["10.96.0.10"], searchDomains: ["cluster.local"] }]);
});
