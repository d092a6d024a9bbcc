#!/usr/bin/env node
// The `nsm` CLI. Runs the TypeScript sources through tsx so the command always matches the tree.
import { register } from "tsx/esm/api";
register();
const { main } = await import("../src/cmd/nsm.ts");
await main(process.argv.slice(2));
