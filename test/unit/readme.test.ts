import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { configSection, currentSection } from "../../scripts/readme-config.js";
import { commands } from "../../src/cmd/nsm.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

test("README configuration section matches every command's ENV_HELP", async () => {
  assert.equal(currentSection(readme), await configSection(), "run: node --import tsx scripts/readme-config.ts");
});

test("README names every nsm subcommand", () => {
  for (const name of Object.keys(commands))
    assert.ok(readme.includes(`nsm ${name}`), `README does not mention "nsm ${name}"`);
});
