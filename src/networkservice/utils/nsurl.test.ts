import { test } from "node:test";
import assert from "node:assert/strict";
import { kernel } from "../../api/index.js";
import { parseNsUrl, requestFromNsUrl } from "./nsurl.js";

test("NS URL grammar as upstream nsurl", () => {
  const a = parseNsUrl("kernel://my-ns@domain/nsm-1?app=foo");
  assert.deepEqual(
    { ns: a.networkService, m: a.mechanism, i: a.ifname, l: a.labels },
    { ns: "my-ns@domain", m: "KERNEL", i: "nsm-1", l: { app: "foo" } },
  );
  const b = parseNsUrl("vfio://l2-controller?sriovToken=l2.domain/1G");
  assert.deepEqual(
    { ns: b.networkService, m: b.mechanism, i: b.ifname, l: b.labels },
    { ns: "l2-controller", m: "VFIO", i: undefined, l: { sriovToken: "l2.domain/1G" } },
  );
  assert.equal(parseNsUrl("memif://memif2memif/nsm-1").mechanism, "MEMIF");
  assert.deepEqual(parseNsUrl("kernel://x/a/b?k=1&k=2").labels, { k: "1,2" });
  assert.equal(parseNsUrl("kernel://x/a/b").ifname, "b");
  assert.throws(() => parseNsUrl("vpn/if-vpn"), /invalid network service URL "vpn\/if-vpn"/);
  assert.throws(() => parseNsUrl("kernel:///nsm-1"), /no network service name/);
  const r = requestFromNsUrl(a, "nsc-0", { netnsUrl: "file:///proc/42/ns/net" });
  assert.equal(r.connection!.id, "nsc-0");
  assert.equal(kernel.ifnameOf(r), "nsm-1");
  assert.equal(kernel.netnsUrlOf(r), "file:///proc/42/ns/net");
});
