#!/usr/bin/env node
// nfemu command entry: registers the TypeScript loader, then runs the CLI from source,
// so a checkout works after `npm ci` with no build step.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
