// Configuration the commands must refuse, naming the variable (issue 21 item 8).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readConfig as forwarderConfig } from "../../src/cmd/forwarder.js";
import { readConfig as nscConfig } from "../../src/cmd/nsc.js";
import { readConfig as nseConfig } from "../../src/cmd/nse-icmp-responder.js";
import { ConfigError } from "../../src/tools/env.js";

const refused = (f: () => unknown, variable: string, re: RegExp) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
    assert.equal(e.variable, variable);
    assert.match(e.message, re);
    return true;
  });

test("NSM_CIDR_PREFIX: a bad prefix names the variable", () => {
  refused(
    () => nseConfig({ NSM_CIDR_PREFIX: "300.1.1.1/40" }),
    "NSM_CIDR_PREFIX",
    /^NSM_CIDR_PREFIX="300\.1\.1\.1\/40"/,
  );
  refused(() => nseConfig({ NSM_CIDR_PREFIX: "10.0.0.0/8,[10.1.0.0/33]" }), "NSM_CIDR_PREFIX", /prefix length/);
});

test("NSM_CIDR_PREFIX: a /32 (or /128) pool has no room for a pair", () => {
  refused(() => nseConfig({ NSM_CIDR_PREFIX: "10.0.0.1/32" }), "NSM_CIDR_PREFIX", /a pair needs 2/);
  refused(() => nseConfig({ NSM_CIDR_PREFIX: "fd00::1/128" }), "NSM_CIDR_PREFIX", /a pair needs 2/);
  assert.deepEqual(nseConfig({ NSM_CIDR_PREFIX: "10.0.0.0/31" }).cidrs, ["10.0.0.0/31"]);
});

test("NSM_PAYLOAD is ETHERNET or IP", () => {
  refused(() => nseConfig({ NSM_PAYLOAD: "FOO" }), "NSM_PAYLOAD", /one of ETHERNET, IP/);
  assert.equal(nseConfig({ NSM_PAYLOAD: "IP" }).payload, "IP");
});

test("NSM_TUNNEL_IP must be an IP address", () => {
  refused(() => forwarderConfig({ NSM_TUNNEL_IP: "999.1.1.1" }), "NSM_TUNNEL_IP", /not an IP address/);
  assert.equal(forwarderConfig({ NSM_TUNNEL_IP: "198.18.0.1" }).tunnelIp, "198.18.0.1");
  assert.equal(forwarderConfig({}).tunnelIp, undefined);
});

test("NSM_REMOTE_MECHANISMS: VXLAN and WIREGUARD, each once, best first", () => {
  refused(
    () => forwarderConfig({ NSM_REMOTE_MECHANISMS: "VXLAN,GRE" }),
    "NSM_REMOTE_MECHANISMS",
    /"GRE" is not one of/,
  );
  refused(() => forwarderConfig({ NSM_REMOTE_MECHANISMS: "vxlan,VXLAN" }), "NSM_REMOTE_MECHANISMS", /twice/);
  assert.deepEqual(forwarderConfig({ NSM_REMOTE_MECHANISMS: "vxlan, wireguard" }).remoteMechanisms, [
    "VXLAN",
    "WIREGUARD",
  ]);
  assert.equal(forwarderConfig({}).remoteMechanisms, undefined);
});

test("NSM_LABELS: a label without a value is refused", () => {
  refused(() => nseConfig({ NSM_LABELS: "app:" }), "NSM_LABELS", /has no value/);
  refused(() => forwarderConfig({ NSM_LABELS: "a:b,c" }), "NSM_LABELS", /not key:value/);
  assert.deepEqual(forwarderConfig({ NSM_LABELS: "a:b" }).labels, { a: "b" });
});

test("NSM_NETWORK_SERVICES: a label without value and an interface name over 15 bytes are refused", () => {
  const svc = (v: string) => nscConfig({ NSM_NETWORK_SERVICES: v });
  refused(() => svc("kernel://icmp/nsm-1?app"), "NSM_NETWORK_SERVICES", /label "app" has no value/);
  refused(() => svc("kernel://icmp/nsm-1?app="), "NSM_NETWORK_SERVICES", /label "app" has no value/);
  refused(() => svc("kernel://icmp/abcdefghijklmnopqrst"), "NSM_NETWORK_SERVICES", /longer than 15 bytes/);
  assert.equal(svc("kernel://icmp/abcdefghijklmno").services[0]!.ifname, "abcdefghijklmno");
});
