import { test } from "node:test";
import assert from "node:assert/strict";
import { mergePrefixes, parseCidr } from "./prefixes.js";

test("merge as upstream's prefix pool: siblings join, host bits clear, contained drop, invalid apart", () => {
  assert.deepEqual(mergePrefixes(["10.0.0.0/25", "10.0.0.128/25"]).prefixes, ["10.0.0.0/24"]);
  assert.deepEqual(mergePrefixes(["127.0.0.1/16"]).prefixes, ["127.0.0.0/16"]);
  assert.deepEqual(mergePrefixes(["10.1.0.0/24", "10.0.0.0/8"]).prefixes, ["10.0.0.0/8"]);
  assert.deepEqual(mergePrefixes(["10.0.0.0/24", "nope", "1.2.3.4/33"]), {
    prefixes: ["10.0.0.0/24"],
    invalid: ["nope", "1.2.3.4/33"],
  });
  // upstream's own example: 168.92.0.0/24 is not inside 168.0.0.0/10
  assert.deepEqual(
    new Set(
      mergePrefixes([
        "127.0.0.1/16",
        "127.0.2.1/16",
        "168.92.0.1/24",
        "10.244.0.0/16",
        "10.96.0.0/12",
        "168.0.0.0/10",
        "1.1.1.1/11",
      ]).prefixes,
    ),
    new Set(["10.244.0.0/16", "10.96.0.0/12", "127.0.0.0/16", "168.92.0.0/24", "168.0.0.0/10", "1.0.0.0/11"]),
  );
  // IPv4 first, then IPv6; chains of merges
  assert.deepEqual(
    mergePrefixes(["2001:db8::/65", "2001:db8:0:0:8000::/65", "10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/25"]).prefixes,
    ["10.0.0.0/24", "2001:db8::/64"],
  );
  assert.equal(parseCidr("::1/128")?.len, 128);
});
