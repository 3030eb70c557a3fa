/**
 * Runs every `*.test.ts` under test/ in one process with uvu.
 * `npm test` = type check + this. Pass a substring to run only matching files:
 * `node --import tsx test/run.ts conntrack`.
 */
import { parse } from 'uvu/parse';
import { run } from 'uvu/run';

const filter = process.argv[2];
const { suites } = await parse('test', /\.test\.ts$/, {});
const chosen = filter ? suites.filter((s) => s.name.includes(filter)) : suites;
if (chosen.length === 0) {
  console.error(`no test files${filter ? ` matching "${filter}"` : ''}`);
  process.exit(1);
}
await run(chosen, { bail: false });
