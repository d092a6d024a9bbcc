// The plan units of the three backends and the shared fingerprint: what shape a cross connect
// takes, and that a refresh asking for the same thing has the same fingerprint while a change of
// addresses, interface name or tunnel peer does not. No root needed: nothing is plumbed.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConnectionContextSchema,
  ConnectionSchema,
  IPContextSchema,
  create,
  kernel,
  memif,
  vxlan,
  type Mechanism,
} from "../../src/api/index.js";
import type { CrossConnect } from "../../src/forwarder/backend.js";
import { planOf as kernelPlan } from "../../src/forwarder/backends/kernel/plan.js";
import { checkPlumbable, fingerprintOf as memifFp, isOurs } from "../../src/forwarder/backends/memif/plan.js";
import { planOf as ovsPlan } from "../../src/forwarder/backends/ovs/plan.js";
import { ipFingerprint } from "../../src/forwarder/backends/shared/plumbing.js";

const kern = (name: string, ns = "file:///proc/1/ns/net") => kernel.newKernel({ netnsUrl: ns, name });
function xc(inM: Mechanism, outM: Mechanism, src = "172.16.0.1/32", payload = "ETHERNET"): CrossConnect {
  const context = create(ConnectionContextSchema, {
    ipContext: create(IPContextSchema, { srcIpAddrs: [src], dstIpAddrs: ["172.16.0.0/32"] }),
  });
  return {
    id: "c-1",
    incoming: create(ConnectionSchema, { id: "c-1", mechanism: inM, payload }),
    outgoing: create(ConnectionSchema, { id: "c-1", mechanism: outM, context, payload }),
  };
}
const tunnelTo = (ip: string) => {
  const m = vxlan.newVxlan("10.0.0.1");
  vxlan.setDstIp(m, ip);
  vxlan.setVni(m, 42);
  return m;
};

test("kernel plan: shapes and sides; the fingerprint follows names, addresses and the tunnel peer", () => {
  const local = kernelPlan(xc(kern("nsm-1"), kern("nse-1")));
  assert.deepEqual([local.shape, local.side], ["veth", undefined]);
  assert.equal(kernelPlan(xc(kern("nsm-1"), kern("nse-1"))).fp, local.fp, "same request, same fingerprint");
  assert.notEqual(kernelPlan(xc(kern("nsm-2"), kern("nse-1"))).fp, local.fp, "interface name changed");
  assert.notEqual(kernelPlan(xc(kern("nsm-1"), kern("nse-1"), "172.16.0.3/32")).fp, local.fp, "address changed");

  const src = kernelPlan(xc(kern("nsm-1"), tunnelTo("10.0.0.2")));
  assert.deepEqual([src.shape, src.side], ["tunnel", "src"]);
  assert.notEqual(kernelPlan(xc(kern("nsm-1"), tunnelTo("10.0.0.3"))).fp, src.fp, "peer changed");
  const dst = kernelPlan(xc(tunnelTo("10.0.0.2"), kern("nse-1")));
  assert.deepEqual([dst.shape, dst.side], ["tunnel", "dst"]);
  assert.throws(
    () => kernelPlan(xc(tunnelTo("10.0.0.2"), tunnelTo("10.0.0.3"))),
    /cannot cross-connect VXLAN to VXLAN/,
  );
});

test("ovs plan: local or remote; the default veth MTU is part of what is asked for", () => {
  assert.equal(ovsPlan(xc(kern("nsm-1"), kern("nse-1")), undefined).kind, "local");
  const r = ovsPlan(xc(tunnelTo("10.0.0.2"), kern("nse-1")), undefined);
  assert.deepEqual([r.kind, r.side], ["remote", "dst"]);
  const x = xc(kern("nsm-1"), kern("nse-1"));
  assert.notEqual(ovsPlan(x, 1400).fp, ovsPlan(x, 9000).fp);
});

test("memif plan: MEMIF sides are ours, KERNEL↔KERNEL only without a fallback; IP payload needs both MEMIF", () => {
  const m = memif.newAbstractMemif("/proc/1/ns/net");
  assert.equal(isOurs(xc(m, kern("nse-1")), true), true);
  assert.equal(isOurs(xc(kern("nsm-1"), kern("nse-1")), true), false);
  assert.equal(isOurs(xc(kern("nsm-1"), kern("nse-1")), false), true);
  assert.throws(() => checkPlumbable(xc(m, kern("nse-1"), "172.16.0.1/32", "IP")), /L2 header/);
  assert.throws(() => checkPlumbable(xc(m, tunnelTo("10.0.0.2"))), /cannot plumb a VXLAN endpoint side/);
  assert.equal(memifFp(xc(m, kern("nse-1"))), memifFp(xc(m, kern("nse-1"))));
});

test("ipFingerprint: routes, addresses and MTU count; nothing else does", () => {
  const a = xc(kern("a"), kern("b"));
  const b = xc(kern("x"), kern("y"));
  assert.equal(ipFingerprint(a), ipFingerprint(b));
  assert.notEqual(ipFingerprint(a, 1500), ipFingerprint(a, 1400));
});
