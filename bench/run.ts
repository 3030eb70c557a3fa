/**
 * `npm run bench [-- --quick] [-- --out DIR …]`: the scaling harness (bench/scaling/run.ts;
 * `--help` lists its options). The engine micro-benchmarks stay separate:
 * `node --import tsx bench/engine.bench.ts`.
 */
import { main } from './scaling/run.ts';

process.exitCode = await main(process.argv.slice(2));
