import { test } from "node:test";
import assert from "node:assert/strict";
import * as nl from "./netlink.js";
import { encodeRule, RTM_DELRULE, RTM_NEWRULE, ruleText, validateRule } from "./rule.js";

test("rules: fib_rule_hdr, iif by name, priority, blackhole or table", () => {
  const b = Buffer.from(
    encodeRule(RTM_NEWRULE, nl.NLM_F_CREATE | nl.NLM_F_EXCL, {
      family: 6,
      iif: "nsm-1a2b",
      priority: 100,
      action: "blackhole",
    }).done(),
  );
  assert.equal(b.readUInt16LE(4), RTM_NEWRULE);
  const hdr = b.subarray(16, 28);
  assert.equal(hdr.readUInt8(0), nl.AF_INET6);
  assert.equal(hdr.readUInt8(4), 0, "no table for a blackhole");
  assert.equal(hdr.readUInt8(7), 6, "FR_ACT_BLACKHOLE");
  const at = nl.parseAttrs(b, 28);
  assert.equal(nl.attrStr(at.get(3)), "nsm-1a2b", "FRA_IIFNAME");
  assert.equal(nl.attrU32(at.get(6)), 100, "FRA_PRIORITY");
  assert.equal(at.get(15), undefined);

  const l = Buffer.from(encodeRule(RTM_DELRULE, 0, { family: 6, priority: 0, action: 255 }).done());
  assert.equal(l.readUInt8(16 + 4), 255);
  assert.equal(l.readUInt8(16 + 7), 1, "FR_ACT_TO_TBL");
  const lat = nl.parseAttrs(l, 28);
  assert.equal(lat.get(3), undefined, "no iif: every packet");
  assert.equal(nl.attrU32(lat.get(6)), 0);
  assert.equal(nl.attrU32(lat.get(15)), 255);
  assert.equal(
    ruleText({ family: 6, iif: "e1", priority: 100, action: "blackhole" }),
    "ipv6 rule pref 100 iif e1 blackhole",
  );
});

test("rules: bad input is refused naming the value", () => {
  assert.throws(() => validateRule({ family: 6, iif: "x".repeat(16), priority: 1, action: "blackhole" }), /x{16}/);
  assert.throws(() => validateRule({ family: 6, priority: -1, action: "blackhole" }), /priority -1/);
  assert.throws(() => validateRule({ family: 6, priority: 1, action: 0 }), /action 0/);
});
