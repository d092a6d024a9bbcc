import { test } from "node:test";
import assert from "node:assert/strict";
import { formatIp, maskCidr, parseCidr, parseIp, parseMac } from "./ip.js";

test("parseIp / formatIp round-trip and canonicalise", () => {
  assert.deepEqual([...parseIp("10.0.0.1").bytes], [10, 0, 0, 1]);
  assert.equal(parseIp("FD00:0:0:0:0:0:0:1").text, "fd00::1");
  assert.equal(parseIp("::").text, "::");
  assert.equal(parseIp("::ffff:1.2.3.4").text, "::ffff:102:304");
  assert.equal(parseIp("2001:db8:0:0:1:0:0:1").text, "2001:db8::1:0:0:1");
  assert.equal(formatIp(Uint8Array.from([1, 2, 3, 4])), "1.2.3.4");
  for (const bad of ["10.0.0.256", "1.2.3", "fe80::1%eth0", "", "::g"])
    assert.throws(() => parseIp(bad), { code: "EINVAL" }, bad);
});

test("parseCidr keeps the address, maskCidr clears host bits, errors name the value", () => {
  const c = parseCidr("10.1.2.3/8");
  assert.equal(c.text, "10.1.2.3");
  assert.equal(maskCidr(c).text, "10.0.0.0");
  assert.equal(maskCidr(parseCidr("fd00:1:2:3::1/52")).text, "fd00:1:2::");
  assert.equal(parseCidr("fd00::1").prefixLen, 128);
  assert.throws(() => parseCidr("10.0.0.1/33"), /"10\.0\.0\.1\/33": prefix length must be 0\.\.32/);
  assert.throws(() => parseCidr("10.0.0.1/x"), /prefix length/);
  assert.throws(() => parseCidr("nope/24"), /invalid CIDR "nope\/24"/);
  assert.throws(() => parseCidr("10.0.0.1", "CIDR", { requirePrefix: true }), /missing "\/prefix"/);
});

test("parseMac", () => {
  assert.deepEqual([...parseMac("AA-bb-cc-dd-ee-01")], [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 1]);
  assert.throws(() => parseMac("aa:bb"), { code: "EINVAL" });
});
