/**
 * vL3 with real processes (src/mesh): an IPAM service, a vL3 endpoint on each of 2 nodes, 4
 * clients (2 per node) running their DNS proxy. Every client reaches every other by address and
 * by DNS name (`<podName>.vl3`, through the client's own resolv.conf in /etc/netns/<ns>/); one
 * endpoint is killed, its clients heal to the other one, and everyone reaches everyone again;
 * the IPAM service comes back with another pool, the endpoint's clients get addresses from its
 * new prefix at once, and everyone reaches everyone again. Root only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rootSkip } from "../../src/datapath/testing/index.js";
import { addressOf, clientsOf, everyoneReachesEveryone, fourClients } from "../helpers/vl3.js";
import { testMesh } from "../helpers/workloads.js";

test(
  "vl3: 2 endpoints on 2 nodes, 4 clients reach each other by address and DNS name; an endpoint dies, its clients heal",
  { skip: rootSkip, timeout: 170_000 },
  async (t) => {
    const m = await testMesh(t, "nsm-vl3-", { nodes: 2 });
    const ipam = await m.startIpam({ prefix: "172.16.0.0/16", clientPrefixLen: 24 });
    const a = await m.startVl3Nse(0, { name: "vl3-a", prefixServerUrl: ipam.url });
    const b = await m.startVl3Nse(1, { name: "vl3-b", prefixServerUrl: ipam.url });
    await b.waitFor(/linked to peer vl3-a/, 30_000);
    const { cs, addr } = await fourClients(m);
    await everyoneReachesEveryone(cs, addr, 20_000);

    // round robin on each nsmgr: each endpoint has clients, so the pings above crossed the peer link
    // the peer link's liveness check (NSM_LIVENESS_CHECK_*, on by default) answered all along
    assert.doesNotMatch(b.output(), /data plane check failed|liveness check: cannot ping/);
    const onA = clientsOf(cs, "vl3-a");
    assert.ok(onA.length > 0 && onA.length < 4, `clients on vl3-a: ${onA.map((c) => c.name).join(" ")}`);
    // vl3-a dies: its clients heal to vl3-b, with addresses from vl3-b's prefix
    const victim = a;
    await victim.stop("SIGKILL");
    for (const c of onA) addr.set(c.name, await addressOf(c, /^172\.16\.0\./, 60_000));
    assert.equal(new Set(addr.values()).size, 4, `four distinct addresses: ${[...addr.values()].join(" ")}`);
    await everyoneReachesEveryone(cs, addr, 30_000);

    // the IPAM service comes back with another pool: vl3-b gets a new prefix and asks its clients
    // to request again at once (REFRESH_REQUESTED); they get new addresses, routes and DNS server
    await ipam.stop();
    await m.startIpam({ prefix: "172.17.0.0/16", clientPrefixLen: 24 });
    for (const c of cs) addr.set(c.name, await addressOf(c, /^172\.16\./, 30_000));
    for (const ip of addr.values()) assert.match(ip, /^172\.17\.0\.\d+$/);
    assert.equal(new Set(addr.values()).size, 4, `four distinct addresses: ${[...addr.values()].join(" ")}`);
    await everyoneReachesEveryone(cs, addr, 30_000);
  },
);
