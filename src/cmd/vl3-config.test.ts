// The vL3 commands' configuration: upstream's defaults, bad values refused naming the variable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readConfig as ipamConfig } from "./ipam-vl3.js";
import { readConfig as nseConfig } from "./nse-vl3.js";
import { readConfig as nscConfig } from "./nsc.js";
import { ConfigError } from "../tools/env.js";

const refused = (f: () => unknown, variable: string, re: RegExp) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
    assert.equal(e.variable, variable);
    assert.match(e.message, re);
    return true;
  });

test("ipam-vl3: defaults; bad prefix, length and excludes named", () => {
  const c = ipamConfig({});
  assert.deepEqual([c.prefix, c.clientPrefixLen, c.listenOn], ["172.16.0.0/16", 24, ["tcp://:5006"]]);
  refused(() => ipamConfig({ NSM_PREFIX: "172.16.0.0/33" }), "NSM_PREFIX", /prefix length/);
  refused(() => ipamConfig({ NSM_CLIENT_PREFIX_LEN: "8" }), "NSM_CLIENT_PREFIX_LEN", /between 16 and 32/);
  refused(() => ipamConfig({ NSM_EXCLUDE_PREFIXES: "x/1" }), "NSM_EXCLUDE_PREFIXES", /not an IP/);
  assert.equal(ipamConfig({ NSM_PREFIX: "2001:db8::/64", NSM_CLIENT_PREFIX_LEN: "112" }).clientPrefixLen, 112);
});

test("nse-vl3: upstream's defaults; a template it cannot read is named", () => {
  const c = nseConfig({});
  assert.equal(c.name, "vL3-server");
  assert.deepEqual(c.services, ["vL3"]);
  assert.deepEqual(c.prefixServerUrls, ["vl3-ipam:5006"]);
  assert.deepEqual(c.dnsTemplates, ['{{ index .Labels "podName" }}.{{ .NetworkService }}.']);
  assert.equal(c.unregisterItself, true);
  assert.equal(c.idleTimeoutMs, 0, "NSM_IDLE_TIMEOUT: never by default");
  assert.equal(nseConfig({ NSM_IDLE_TIMEOUT: "1m30s" }).idleTimeoutMs, 90_000);
  refused(() => nseConfig({ NSM_IDLE_TIMEOUT: "soon" }), "NSM_IDLE_TIMEOUT", /not a duration/);
  refused(() => nseConfig({ NSM_DNS_TEMPLATES: "{{ .Nope }}." }), "NSM_DNS_TEMPLATES", /unknown field \.Nope/);
  refused(() => nseConfig({ NSM_PREFIX_SERVER_URL: "http://x" }), "NSM_PREFIX_SERVER_URL", /scheme/);
});

test("nsc: the local DNS proxy's address and resolv.conf", () => {
  const c = nscConfig({ NSM_NETWORK_SERVICES: "kernel://vl3/nsm-1" });
  assert.equal(c.localDns, true);
  assert.equal(c.localDnsAddress, "127.0.0.1:53");
  refused(
    () => nscConfig({ NSM_NETWORK_SERVICES: "kernel://vl3/nsm-1", NSM_LOCAL_DNS_SERVER_ADDRESS: "localhost" }),
    "NSM_LOCAL_DNS_SERVER_ADDRESS",
    /host:port/,
  );
  assert.equal(
    nscConfig({ NSM_NETWORK_SERVICES: "kernel://vl3/nsm-1", NSM_RESOLV_CONF: "/tmp/x/resolv.conf" }).resolvConf,
    "/tmp/x/resolv.conf",
  );
});
