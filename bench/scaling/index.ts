/**
 * The scaling harness (iptables vs IPVS as the cluster grows): `runScaling` / `main` run it,
 * the other exports are its parts (cluster shape, modes, cost model, speed, kernel twins,
 * results, charts, reports), for tests and other benchmarks.
 */
export { main, runScaling, finish, parseRunArgs, settings, USAGE, FULL_SIZES, QUICK_SIZES, DEFAULT_OUT, type RunOptions } from './run.ts';
export * from './cluster.ts';
export { MODES, buildMode, buildIptables, buildIpvs, iptablesKernelText, type ModeName, type ModeInstance, type SyncCost } from './modes.ts';
export { ipvsOps, ipvsContents, ipvsChangeCommands, type IpvsOps, type IpvsContents } from './ipvs-ops.ts';
export { CountingTracer, LookupCounter, measureCost, firstPacket, establishedPacket, replyTo, type PacketCost, type CostProbes } from './cost.ts';
export { measureSpeed, type SpeedProbes, type SpeedResult, type SpeedOptions } from './speed.ts';
export { kernelAvailable, measureKernel, worthTrying, BACKENDS, type Backend, type KernelMeasurement, type KernelOptions } from './kernel.ts';
export { csvRows, toCsv, csvField, writeResults, slope, slopes, type ScalingResults, type NfemuResult, type CsvRow } from './results.ts';
export { chartDefs, chartSpec, renderSvg, renderCharts, type ChartDef, type ChartRow } from './charts.ts';
export { terminalReport, readmeSection, replaceSection, textTable, mdTable } from './report.ts';
