import { iptablesKernelText } from '/work/main/bench/scaling/modes.ts';
import { measureKernel } from '/work/main/bench/scaling/kernel.ts';
const [backend, n] = [process.argv[2] as 'nft' | 'legacy', Number(process.argv[3])];
const text = iptablesKernelText({ services: n, endpoints: 4 });
const r = await measureKernel(backend, n, 4, text, { restoreTimeoutMs: 600000, packets: 1000, reps: 5 });
console.log(JSON.stringify({ ...r, bursts: undefined }));
