import { test } from "node:test";
import assert from "node:assert/strict";
import { chain, newCtx } from "../../../core/index.js";
import { checkRequest, newRequest } from "../../../core/testing/index.js";
import { CLIENT_URL } from "../../utils/keys.js";
import { interdomainBypassServer, refuseSelfServer } from "./server.js";

const SELF = "tcp://10.0.2.254:5004";
const urls = new Map([
  ["far@a.test", "tcp://10.0.1.254:5004"], // found in another domain
  ["nse-f", "tcp://10.0.2.1:5001"], // registered through us (floating)
  ["loop@b.test", SELF],
]);

function run(nse: string, ns: string) {
  const seen: { url?: string; nse: string; ns: string }[] = [];
  const s = chain(
    interdomainBypassServer(urls, [SELF]),
    checkRequest((r, ctx) =>
      seen.push({
        url: ctx.get(CLIENT_URL),
        nse: r.connection!.networkServiceEndpointName,
        ns: r.connection!.networkService,
      }),
    ),
  );
  return { seen, out: s.request(newRequest("c1", { networkService: ns, endpoint: nse }), newCtx()) };
}

test("interdomainbypass: an NSE found in another domain goes to its nsmgr-proxy, names unchanged", async () => {
  const r = run("far@a.test", "svc@a.test");
  const conn = await r.out;
  assert.deepEqual(r.seen, [{ url: "tcp://10.0.1.254:5004", nse: "far@a.test", ns: "svc@a.test" }]);
  assert.equal(conn.networkServiceEndpointName, "far@a.test");
});

test("interdomainbypass: a request from another domain is stripped of @domain here and gets its names back", async () => {
  const local = run("nse-b@b.test", "svc@b.test");
  const conn = await local.out;
  assert.deepEqual(local.seen, [{ url: undefined, nse: "nse-b", ns: "svc" }], "local discovery decides");
  assert.equal(conn.networkServiceEndpointName, "nse-b@b.test");
  assert.equal(conn.networkService, "svc@b.test");
  const floating = run("nse-f@c.test", "fsvc@c.test");
  await floating.out;
  assert.deepEqual(floating.seen, [{ url: "tcp://10.0.2.1:5001", nse: "nse-f", ns: "fsvc" }]);
});

test("interdomainbypass: a next hop that is ourselves is refused, before and after discovery", async () => {
  await assert.rejects(run("loop@b.test", "s@b.test").out, /resolves to this nsmgr-proxy itself/);
  const s = chain(
    { request: (req, ctx, next) => next.request(req, ctx.withValue(CLIENT_URL, SELF)) },
    refuseSelfServer([SELF]),
  );
  await assert.rejects(
    s.request(newRequest("c2", { networkService: "s", endpoint: "x" }), newCtx()),
    /names this nsmgr-proxy/,
  );
});
